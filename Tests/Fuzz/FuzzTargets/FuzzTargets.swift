import Foundation
import Alignment
import Model
import Pipeline
import Tokenizer

/// The parsers that read files a user or another program hands to autodidact, each as a fuzz target: a
/// function of one byte string that must either accept it or throw a clear error, and never trap, hang or
/// allocate without bound. The same functions run under libFuzzer (`make fuzz`) and in `make test`, over the
/// seed corpus and over every input a fuzzing run ever found (Tests/Fuzz/corpus, Tests/Fuzz/regressions).
public enum FuzzTargets {
    public enum Outcome: Equatable, CustomStringConvertible {
        case accepted
        case refused(String)
        public var description: String {
            switch self {
            case .accepted: return "accepted"
            case .refused(let m): return "refused: \(m)"
            }
        }
    }

    /// Target names, as `make fuzz` and the corpus folders spell them.
    public static let names = ["gguf", "safetensors", "config-json", "tokenizer-json", "run-config", "jsonl"]

    /// Feeds `data` to target `name` and reports what it did with it.
    public static func run(_ name: String, _ data: Data) throws -> Outcome {
        let scratch = try Scratch.shared()
        do {
            switch name {
            case "gguf":
                let url = try scratch.write(data, as: "model.gguf")
                let file = try GGUFFile(url: url)
                for name in file.tensorOrder.prefix(64) {
                    guard let t = file.tensors[name], t.count <= 1 << 20 else { continue }
                    let out = UnsafeMutablePointer<Float>.allocate(capacity: t.count)
                    defer { out.deallocate() }
                    try file.read(name, into: out)
                }
                _ = try Checkpoint.loadGGUF(url: url, precision: .float32)
            case "safetensors":
                let url = try scratch.write(data, as: "model.safetensors")
                let file = try SafetensorsFile(url: url)
                for name in file.entries.keys.sorted().prefix(64) {
                    guard let t = file.entries[name], t.count <= 1 << 20 else { continue }
                    let out = UnsafeMutablePointer<Float>.allocate(capacity: t.count)
                    defer { out.deallocate() }
                    try file.read(name, into: out)
                }
            case "config-json":
                let (config, _) = try LlamaConfig.parse(data, file: "config.json")
                try config.validate(file: "config.json")
            case "tokenizer-json":
                let url = try scratch.write(data, as: "tokenizer.json")
                let tokenizer = try BPETokenizer.load(tokenizerJSON: url)
                let ids = tokenizer.encode("Héllo, world! 12345 <|im_start|>user\n\t  ok")
                _ = tokenizer.decode(ids)
            case "run-config":
                let url = try scratch.write(data, as: "config.yaml")
                _ = try RunConfig.load(url.path)
            case "jsonl":
                // Every JSON Lines reader of a run, of a round and of the commands, on the same bytes.
                let path = try scratch.write(data, as: "records.jsonl").path
                var refusals: [String] = []
                func attempt(_ body: () throws -> Void) {
                    do { try body() } catch { refusals.append("\(error)") }
                }
                attempt { _ = try RecordFile.read(PromptRecord.self, from: path) }
                attempt { _ = try RecordFile.read(GenerationRecord.self, from: path) }
                attempt { _ = try RecordFile.read(JudgmentRecord.self, from: path) }
                attempt { _ = try RecordFile.read(MetaJudgmentRecord.self, from: path) }
                attempt { _ = try RecordFile.read(PairRecord.self, from: path) }
                attempt { _ = try GSM8KFile.read(path) }
                attempt { _ = try ArithmeticJudgePairs.read(path) }
                attempt { _ = try BatchGenerate.readPrompts(path) }
                attempt { _ = try RunState.load(URL(fileURLWithPath: path)) }
                if refusals.count == 9 { return .refused(refusals[0]) }
            default:
                throw FuzzError("unknown fuzz target '\(name)' (targets: \(names.joined(separator: ", ")))")
            }
            return .accepted
        } catch let e as FuzzError {
            throw e
        } catch {
            return .refused("\(error)")
        }
    }

    /// One private folder per process for the files a target reads (parsers that map files need a path).
    final class Scratch: @unchecked Sendable {
        let dir: URL
        nonisolated(unsafe) private static var instance: Scratch?
        static func shared() throws -> Scratch {
            if let s = instance { return s }
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("autodidact-fuzz-\(getpid())")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let s = Scratch(dir: dir)
            instance = s
            return s
        }
        init(dir: URL) { self.dir = dir }
        func write(_ data: Data, as name: String) throws -> URL {
            let url = dir.appendingPathComponent(name)
            try data.write(to: url)
            return url
        }
    }
}

public struct FuzzError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
