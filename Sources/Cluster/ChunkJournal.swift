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
        let folder = directory.appendingPathComponent(call)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var completed: [Int: [R]] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) where name.hasPrefix("chunk-") && name.hasSuffix(".json") {
            guard let c = Int(name.dropFirst(6).dropLast(5)) else { continue }
            let file = folder.appendingPathComponent(name)
            do { completed[c] = try JSONDecoder().decode([R].self, from: Data(contentsOf: file)) } catch {
                throw ClusterError("\(file.path): unreadable saved chunk (\(error)); delete \(directory.path) to compute the phase again")
            }
        }
        return (completed, { c, results in
            let name = String(format: "chunk-%06d", c)
            try AtomicFile.write(try JSONEncoder().encode(results), to: folder.appendingPathComponent(name + ".json"))
            try self.afterChunk("\(call)/\(name)")
        })
    }

    /// Deletes the folder (once the phase's own files are written).
    public func remove() { try? FileManager.default.removeItem(at: directory) }
}
