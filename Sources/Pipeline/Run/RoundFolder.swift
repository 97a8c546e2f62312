import Alignment
import Cluster
import Generation
import Foundation
import Model

/// The files of a run folder's subfolders (`initial`, `round-NN`, `control`); no file name is spelled
/// anywhere else. docs/formats.md describes each.
enum RunFile: String {
    case generations = "generations.jsonl", judgments = "judgments.jsonl", metaJudgments = "meta_judgments.jsonl"
    case pairs = "pairs.jsonl", synthesis = "synthesis.jsonl", questions = "questions.jsonl", modifiedPairs = "modified_pairs.jsonl"
    case winRateResponses = "win_rate_responses.jsonl", winRateJudgments = "win_rate_judgments.jsonl"
    case judgeAudit = "judge_audit.json", judgeAccuracy = "judge_accuracy.jsonl", evaluation = "evaluation.json", metrics = "metrics.jsonl"
    /// Each evaluation question's greedy answer, whether it is right, its length (for people and the report).
    case evaluationAnswers = "evaluation.jsonl"
    /// The report of the run (`autodidact report`), in the run directory itself.
    case report = "report.html"
    /// The promotion gate: a model's greedy results on the dev split, and the round's decision.
    case devEvaluation = "dev_evaluation.json", promotion = "promotion.json"
    /// Generation chunks written as they finish, so that a killed or stopped generate phase resumes; the same
    /// for the greedy passes of an evaluation (its length-limited pass) and of a dev evaluation (folders).
    case partialGenerations = "generations.partial", partialEvaluation = "evaluation.partial"
    case partialLengthEvaluation = "evaluation_length_limit.partial", partialDevEvaluation = "dev_evaluation.partial"
    /// An LLM judge's finished chunks, and a synthesize phase's, call by call (`ChunkJournal`).
    case partialJudgments = "judgments.partial", partialSynthesis = "synthesis.partial"
    /// The pairs' reference log-probabilities, and an evaluation's win-rate and judge-accuracy passes.
    case partialPairs = "pairs.partial", partialEvaluationJudging = "evaluation_judging.partial"
    /// The model a training phase ends with (a folder).
    case model = "model"
}

/// A JSON Lines record file and the type of its records.
struct RecordKind<Record: Codable> {
    let file: RunFile
}

extension RecordKind where Record == GenerationRecord {
    static var generations: Self { .init(file: .generations) }
    static var winRateResponses: Self { .init(file: .winRateResponses) }
}
extension RecordKind where Record == JudgmentRecord { static var judgments: Self { .init(file: .judgments) } }
extension RecordKind where Record == MetaJudgmentRecord { static var metaJudgments: Self { .init(file: .metaJudgments) } }
extension RecordKind where Record == PairRecord { static var pairs: Self { .init(file: .pairs) } }
extension RecordKind where Record == PromptRecord { static var questions: Self { .init(file: .questions) } }
extension RecordKind where Record == SynthesisRecord { static var synthesis: Self { .init(file: .synthesis) } }

/// One subfolder of the run directory, reading and writing its files by kind.
struct RoundFolder: Equatable {
    /// "initial", "round-01", ..., "control".
    let name: String
    let url: URL

    init(_ name: String, in run: URL) { self.name = name; url = run.appendingPathComponent(name) }
    static func round(_ r: Int, in run: URL) -> RoundFolder { RoundFolder(String(format: "round-%02d", r), in: run) }
    /// The initial phases' folder (the SFT model, the start's evaluation) and the control arm's.
    static func initial(in run: URL) -> RoundFolder { RoundFolder("initial", in: run) }
    static func control(in run: URL) -> RoundFolder { RoundFolder("control", in: run) }

    /// The round number of a `round-NN` folder.
    var round: Int? { name.hasPrefix("round-") ? Int(name.dropFirst(6)) : nil }

    func url(_ file: RunFile) -> URL { url.appendingPathComponent(file.rawValue) }
    func exists(_ file: RunFile) -> Bool { FileManager.default.fileExists(atPath: url(file).path) }
    /// A file's path relative to the run directory (as `state.json` records it).
    func relative(_ file: RunFile) -> String { "\(name)/\(file.rawValue)" }
    func relativeCheckpoint(_ step: Int) -> String { "\(name)/checkpoint-\(String(format: "%06d", step))" }

    func create() throws { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }

    func read<R>(_ kind: RecordKind<R>) throws -> [R] { try RecordFile.read(R.self, from: url(kind.file).path) }
    func write<R>(_ records: [R], as kind: RecordKind<R>) throws { try RecordFile.write(records, to: url(kind.file).path) }

    /// JSON objects as lines with sorted keys (files whose lines are not one record type).
    func writeLines(_ objects: [[String: Any]], to file: RunFile) throws {
        let lines = try objects.map(JSONLines.object)
        try AtomicFile.write(Data((lines.joined(separator: "\n") + "\n").utf8), to: url(file))
    }
}

/// A sample of a round: which prompt, which of its samples. Records are joined on it.
struct SampleKey: Hashable {
    let promptId: String
    let sampleIndex: Int
    init(_ promptId: String, _ sampleIndex: Int) { self.promptId = promptId; self.sampleIndex = sampleIndex }
    init(_ g: GenerationRecord) { self.init(g.promptId, g.sampleIndex) }
    init(_ j: JudgmentRecord) { self.init(j.promptId, j.sampleIndex) }
}

extension Array where Element == GenerationRecord {
    /// The records grouped by prompt, prompts in order of first appearance.
    func byPrompt() -> [(id: String, items: [GenerationRecord])] {
        var order: [String] = [], byId: [String: [GenerationRecord]] = [:]
        for r in self {
            if byId[r.promptId] == nil { order.append(r.promptId) }
            byId[r.promptId, default: []].append(r)
        }
        return order.map { ($0, byId[$0]!) }
    }
}

extension RoundFolder {
    /// The chunks of a generation (a generate phase's, by default) written before a kill or stop, by number.
    func completedChunks(_ file: RunFile = .partialGenerations) throws -> [Int: [GenerationResult]] {
        try ChunkFolder(url(file)).completed(GenerationResult.self)
    }

    func writeChunk(_ chunk: Int, _ results: [GenerationResult], in file: RunFile = .partialGenerations) throws {
        try ChunkFolder(url(file)).save(chunk, results)
    }

    func removePartial(_ file: RunFile = .partialGenerations) { try? FileManager.default.removeItem(at: url(file)) }
}

extension RoundFolder {
    /// A journal of the cluster's chunks for phase `key` in partial folder `file`: after each saved chunk, the
    /// kill-switch and preemption point "`key`/call-K/chunk-N", and the stop when one was requested.
    func journal(_ file: RunFile, key: String) -> ChunkJournal {
        ChunkJournal(directory: url(file)) { name in
            KillSwitch.point("\(key)/\(name)")
            Preemption.point("\(key)/\(name)")
            try Preemption.check("\(key), after \(name) (the chunks so far are saved)")
        }
    }
}
