import Alignment
import Cluster
import Foundation
import Generation
import Logging
import Model
import Tokenizer

/// What every phase works with: the config, the ranks, the run directory and its `state.json`, the models
/// in use (loaded and freed in `Models.swift`), the task's questions and how they are shown (`TaskFormat`),
/// and the metrics files. One per run, made by `Scheduler`.
final class RunContext {
    let config: RunConfig
    let cluster: Cluster
    let logger: Logger
    /// The run directory.
    let dir: URL
    var state: RunState
    /// The model being trained, as rank 0 holds it (the workers hold the same).
    var policy: LlamaModel
    let task: TaskFormat
    var tokenizer: BPETokenizer { task.tokenizer }
    var logs: [String: MetricsLog] = [:]
    /// `progress.json`, for `autodidact status`.
    let progress: RunProgress

    init(config: RunConfig, cluster: Cluster, logger: Logger, dir: URL, state: RunState, policy: LlamaModel, task: TaskFormat) {
        self.config = config; self.cluster = cluster; self.logger = logger; self.dir = dir; self.state = state; self.policy = policy
        self.task = task
        progress = RunProgress(directory: dir)
    }

    /// Unit of work `key` begins: named to the cluster (for a dead rank's report) and in `progress.json`.
    func begin(_ key: String) {
        cluster.activity = key
        progress.begin(key)
    }

    func round(_ r: Int) -> RoundFolder { RoundFolder.round(r, in: dir) }
    var initialFolder: RoundFolder { RoundFolder.initial(in: dir) }
    var controlFolder: RoundFolder { RoundFolder.control(in: dir) }

    func saveState() throws { try state.save(dir.appendingPathComponent(RunState.fileName)) }

    /// Records phase `key` as done (and its training checkpoint, if any, as no longer needed).
    func complete(_ key: String) throws {
        state.done.append(key)
        state.checkpoint = nil
        try saveState()
        if config.tensorboard { try writeTensorBoard() }
        KillSwitch.point("\(key)/done")
    }

    func isDone(_ key: String) -> Bool { state.done.contains(key) }

    /// `tensorboard/events.out.tfevents.autodidact`: every metrics line so far as TensorBoard scalars,
    /// rewritten whole from the metrics files when a unit completes (so a resumed run's file holds exactly
    /// its metrics files' lines). Events carry wall time 0: the steps are the x axis.
    func writeTensorBoard() throws {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [])
            .filter { $0 == "initial" || $0.hasPrefix("round-") }.sorted() + ["control"]
        let files = names.map { (folder: $0, url: RoundFolder($0, in: dir).url(.metrics)) }
        let folder = dir.appendingPathComponent(RunState.tensorboardFolder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try AtomicFile.write(TensorBoard.eventFile(try TensorBoard.scalars(ofMetrics: files)),
                             to: folder.appendingPathComponent("events.out.tfevents.autodidact"))
    }

    func metrics(_ folder: RoundFolder) -> MetricsLog {
        if let m = logs[folder.name] { return m }
        let m = MetricsLog(url: folder.url(.metrics), key: folder.name, keep: state.metricsLines[folder.name] ?? 0)
        logs[folder.name] = m
        return m
    }

    /// The phase settings of round `round` (its overrides applied).
    func phases(of round: Int) -> [PhaseConfig] { round >= 1 && round <= config.rounds.count ? config.rounds[round - 1] : [] }

    /// The questions kept by the synthesize phase of `folder`'s round, or else of the latest earlier round
    /// that kept any; none when no round has.
    func synthesizedProblems(upTo folder: RoundFolder) throws -> [Problem] {
        guard let round = folder.round else { return [] }
        for r in stride(from: round, through: 1, by: -1) {
            let f = self.round(r)
            guard f.exists(.questions) else { continue }
            let kept = try f.read(.questions)
            if kept.isEmpty { continue }
            return kept.map { Problem(id: $0.id, question: $0.prompt, solution: "", answer: $0.reference ?? "") }
        }
        return []
    }

    /// The problems a folder's records may name: the training split and the questions synthesized for it.
    func problemsById(_ folder: RoundFolder) throws -> [String: Problem] {
        Dictionary((task.train + (try synthesizedProblems(upTo: folder))).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    }
}

/// The metrics file of one folder of the run: one JSON line per training step and per phase. Lines are
/// kept in memory and the file rewritten atomically when a unit completes, so a resumed run never has
/// lines from work it redoes.
final class MetricsLog {
    let url: URL
    let key: String
    var lines: [String]
    init(url: URL, key: String, keep: Int) {
        self.url = url
        self.key = key
        let existing = (try? String(contentsOf: url, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        lines = Array(existing.prefix(keep))
    }
    func append(_ fields: [String: Any]) throws { lines.append(try JSONLines.object(fields)) }
    func flush(state: inout RunState) throws {
        try AtomicFile.write(Data((lines.joined(separator: "\n") + (lines.isEmpty ? "" : "\n")).utf8), to: url)
        state.metricsLines[key] = lines.count
    }
}

/// The tags of the run's random streams, so that each draw has a name: a stream is keyed by (seed, tag,
/// ...) or, for sampling, by the seed combined with a tag. Changing a value changes every run's results.
enum StreamTag: UInt64 {
    /// Gold-solution batches of the SFT phase, and of the control arm.
    case sftBatches = 0x5F7, controlBatches = 0xC7
    /// The draw of correct-vs-incorrect pairs, the shuffle of a round's pairs, and of rejection-sampling examples.
    case pairDraw = 0xC0, pairShuffle = 0x7A1, exampleShuffle = 0x5F7D
    /// Sampling seeds (the run's seed XOR the tag) of the LLM judge, the meta-judge and synthesis.
    case judgeSampling = 0x1D6E, metaJudgeSampling = 0x3E7A, synthesisSampling = 0x5E7
    /// The example prompts shown with each synthesis request.
    case synthesisShots = 0x5EED
    /// The slips of generated judge pairs, and the resamples of a bootstrap interval.
    case judgePairSlips = 0x1A8E1, bootstrap = 0xB007
    /// The verdict letter drawn for a Self-Taught Evaluator judgment (`ForcedVerdicts`).
    case forcedVerdict = 0xF0CED
    /// The responses written after a forced response marker (`ThoughtResponses`).
    case thoughtResponse = 0x7E5B

    /// The run's seed combined with this tag, as a sampling seed.
    func seed(_ runSeed: UInt64) -> UInt64 { runSeed ^ rawValue }
}
