import Foundation
import Model

/// The finished chunks of every sharded computation one phase asks the cluster for (judgments, verdict
/// scores), kept call by call in a folder so that a phase stopped on request or killed part-way resumes
/// from them. A phase's calls and their chunks are a function of its inputs, so the K-th call of a resumed
/// phase is the K-th call of the first attempt and takes back its saved chunks.
public final class ChunkJournal: @unchecked Sendable {
    public let directory: URL
    /// Called after each chunk is saved, with "call-K/chunk-N": the run's kill-switch and preemption point.
    let afterChunk: (String) throws -> Void
    private var calls = 0

    public init(directory: URL, afterChunk: @escaping (String) throws -> Void) {
        self.directory = directory; self.afterChunk = afterChunk
    }

    /// The next call's saved chunks, and how to save one more.
    public func nextCall<R: Codable>(_ type: R.Type) throws -> (completed: [Int: [R]], save: (Int, [R]) throws -> Void) {
        let call = String(format: "call-%04d", calls)
        calls += 1
        let folder = ChunkFolder(directory.appendingPathComponent(call))
        let completed = try folder.completed(R.self, redo: directory)
        return (completed, { c, results in
            let name = try folder.save(c, results)
            try self.afterChunk("\(call)/\(name)")
        })
    }

    /// Deletes the folder (once the phase's own files are written).
    public func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// One folder of saved chunks, `chunk-NNNNNN.json` each: how every partial folder of a run is read and
/// written (a generate phase's and a greedy pass's directly, a journal's one per call).
public struct ChunkFolder {
    public let url: URL
    public init(_ url: URL) { self.url = url }

    /// The chunks saved so far, by number (the folder is made when missing). `redo` names what to delete to
    /// compute them again when one cannot be read.
    public func completed<R: Codable>(_ type: R.Type, redo: URL? = nil) throws -> [Int: [R]] {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        var completed: [Int: [R]] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: url.path) where name.hasPrefix("chunk-") && name.hasSuffix(".json") {
            guard let c = Int(name.dropFirst(6).dropLast(5)) else { continue }
            let file = url.appendingPathComponent(name)
            do { completed[c] = try JSONDecoder().decode([R].self, from: Data(contentsOf: file)) } catch {
                throw ClusterError("\(file.path): unreadable saved chunk (\(error)); delete \((redo ?? url).path) to compute it again")
            }
        }
        return completed
    }

    /// Saves chunk `chunk` (atomically); returns its name without the extension.
    @discardableResult
    public func save<R: Codable>(_ chunk: Int, _ results: [R]) throws -> String {
        let name = String(format: "chunk-%06d", chunk)
        try AtomicFile.write(try JSONEncoder().encode(results), to: url.appendingPathComponent(name + ".json"))
        return name
    }
}
