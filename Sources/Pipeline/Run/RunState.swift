import Foundation
import Kernels
import Model
import Tokenizer

/// `state.json`: what has been completed, so that `--resume` continues from the last completed unit.
/// Written atomically after every unit.
public struct RunState: Codable, Equatable {
    public var configHash: String
    public var worldSize: Int
    /// The round (0: the initial phases) and the phase being worked on, for people reading the file; resume
    /// goes by `done` and `checkpoint`. There is no random state to keep: every draw comes from a stream keyed
    /// by (seed, round, step or index).
    public var round: Int?
    public var phase: String?
    /// Keys of completed phases ("initial-0-sft", "round-1-generate", "control", ...).
    public var done: [String] = []
    /// The training checkpoint of the phase in progress, if any.
    public var checkpoint: Checkpointed?
    /// Where the current model is saved (nil: the starting model).
    public var model: String?
    /// Lines of each metrics file that belong to completed work (longer files are cut back on resume).
    public var metricsLines: [String: Int] = [:]
    /// Training tokens each finished training phase processed (the control arm matches their sum).
    public var trainingTokens: [String: Double] = [:]
    public var finished = false
    /// The promotion gate's decisions by round number ("1": true when round 1's model was promoted).
    public var promotions: [String: Bool]?
    /// Why the run last ended before finishing, when it could say (a stop request, a non-finite loss, a
    /// failed rank, an error); nil while it runs and once it finished. A run killed outright records
    /// nothing: `autodidact status` tells it by the lock no process holds.
    public var stopped: Stop?
    /// The command lines that started and resumed the run, in order (for the report).
    public var commands: [String]?

    public struct Stop: Codable, Equatable {
        public enum Reason: String, Codable, Sendable {
            case preempted, nonFinite = "non-finite loss", rankFailed = "rank failed", error
        }
        public var reason: Reason
        /// The unit of work it stopped in, and the message it ended with.
        public var unit: String?
        public var message: String
        /// Seconds since 1970.
        public var time: Double
        public init(reason: Reason, unit: String?, message: String, time: Double) {
            self.reason = reason; self.unit = unit; self.message = message; self.time = time
        }
    }

    public struct Checkpointed: Codable, Equatable {
        public var phase: String
        public var directory: String
        public var step: Int
        public var history: [Double]
        /// Training tokens processed so far in the phase.
        public var tokens: Double
        /// Learning-rate decays taken so far (reduce-on-plateau).
        public var decays: Int?
        /// True when `directory` is the phase's saved model: its training is over.
        public var final: Bool?
        public init(phase: String, directory: String, step: Int, history: [Double], tokens: Double, decays: Int? = nil, final: Bool? = nil) {
            self.phase = phase; self.directory = directory; self.step = step; self.history = history; self.tokens = tokens
            self.decays = decays; self.final = final
        }
    }

    public init(configHash: String, worldSize: Int) { self.configHash = configHash; self.worldSize = worldSize }

    /// The run directory's files besides the folders of phases.
    public static let fileName = "state.json", configFileName = "config.yaml", summaryFileName = "summary.md"
    /// `run.tensorboard`'s event file's folder.
    public static let tensorboardFolder = "tensorboard"

    public static func load(_ url: URL) throws -> RunState? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do { return try JSONDecoder().decode(RunState.self, from: Data(contentsOf: url)) } catch {
            throw PipelineError("\(url.path): unreadable run state (\(error))")
        }
    }

    public func save(_ url: URL) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try e.encode(self), to: url)
    }
}

extension RunState {
    /// Removes what a killed run left half-written under `dir`: files and checkpoint directories still
    /// under their temporary names (`.NAME.tmp-...`), which nothing refers to. Returns their paths.
    @discardableResult
    public static func removeLeftovers(in dir: URL) -> [String] {
        let fm = FileManager.default
        var removed: [String] = []
        guard let e = fm.enumerator(at: dir, includingPropertiesForKeys: nil) else { return [] }
        for case let url as URL in e where url.lastPathComponent.hasPrefix(".") && url.lastPathComponent.contains(".tmp-") {
            e.skipDescendants()
            if (try? fm.removeItem(at: url)) != nil { removed.append(url.path) }
        }
        return removed
    }
}
