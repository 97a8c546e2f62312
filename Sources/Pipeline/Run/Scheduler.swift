import Alignment
import Distributed
import Foundation
import Generation
import Kernels
import Logging
import Model
import Tokenizer

/// Carries out a run: the initial phases (SFT to a plateau), then the rounds (generate, judge, pairs, train,
/// evaluate), then the control arm, writing everything to the run directory and recording in
/// `state.json` after each unit of work, so that `--resume` continues where a killed run stopped.
public final class Scheduler {
    let config: RunConfig
    let cluster: Cluster
    let logger: Logger
    let dir: URL
    var state: RunState
    var model: LlamaModel
    let tokenizer: BPETokenizer
    let train: [Problem], validation: [Problem], evaluation: [Problem]
    var report = RoundReport()
    var logs: [String: MetricsLog] = [:]
    /// With data.task judge_pairs: the labelled pairs the rounds draw from (the held-out ones excluded).
    var labelledPairs: [LabelledPair] = []
    let eos: Int32

    public enum Outcome { case finished(String), alreadyFinished(String?) }

    public init(config: RunConfig, cluster: Cluster, resume: Bool, force: Bool, logger: Logger) throws {
        self.config = config
        self.cluster = cluster
        self.logger = logger
        dir = URL(fileURLWithPath: config.outputDir)
        let stateURL = dir.appendingPathComponent("state.json")
        let fm = FileManager.default
        if let existing = try RunState.load(stateURL) {
            guard resume else {
                throw PipelineError("\(config.outputDir) already holds a run; use --resume to continue it or choose another run.output_dir")
            }
            if existing.configHash != config.hash && !force {
                throw PipelineError("\(config.outputDir) was started with a different configuration; --force resumes anyway")
            }
            if existing.worldSize != cluster.size {
                logger.warning("resume: the run started on \(existing.worldSize) rank(s) and continues on \(cluster.size); training sums in another order from here")
            }
            state = existing
            state.configHash = config.hash
            let leftovers = RunState.removeLeftovers(in: dir)
            if !leftovers.isEmpty { logger.info("resume: removed \(leftovers.count) half-written file(s) of the killed run") }
        } else {
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
            state = RunState(configHash: config.hash, worldSize: cluster.size)
        }
        try AtomicFile.write(Data(config.tree.json().utf8), to: dir.appendingPathComponent("config.yaml"))
        // The model, its tokenizer, the task.
        switch config.model {
        case .shape(let s):
            let t = BPETokenizer.bytes()
            var c = LlamaConfig.named(s, vocabSize: t.vocabularySize)!
            c.bosTokenId = Int(t.bosTokenId!); c.eosTokenIds = [Int(t.eosTokenId!)]
            model = LlamaModel.randomlyInitialised(config: c, seed: config.seed)
            tokenizer = t
        case .path(let p):
            let loaded = try ModelCommands.load(p, logger: logger)
            model = loaded.model
            guard let t = loaded.tokenizer ?? (config.tokenizer == "bytes" ? BPETokenizer.bytes() : nil) else {
                throw PipelineError("\(p): the model has no tokenizer")
            }
            tokenizer = config.tokenizer == "bytes" ? BPETokenizer.bytes() : t
        }
        eos = tokenizer.eosTokenId ?? Int32(model.config.eosTokenIds.first ?? 0)
        switch config.data.task {
        case .arithmetic(let task):
            train = task.problems(0..<config.data.trainSize, split: .train)
            validation = task.problems(0..<config.data.validationSize, split: .validation)
            evaluation = task.problems(0..<config.data.evalSize, split: .evaluation)
        case .file(let trainFile, let evalFile):
            let all = try GSM8KFile.read(trainFile)
            guard all.count > config.data.validationSize else { throw PipelineError("\(trainFile): fewer problems than validation_size + 1") }
            validation = Array(all.suffix(config.data.validationSize))
            train = Array(all.dropLast(config.data.validationSize).prefix(config.data.trainSize))
            evaluation = Array(try GSM8KFile.read(evalFile).prefix(config.data.evalSize))
        case .judgePairs(let file):
            let all = try ArithmeticJudgePairs.read(file)
            guard all.count > config.data.evalSize else { throw PipelineError("\(file): \(all.count) pairs; data.eval_size needs at least one more") }
            labelledPairs = Array(all.dropLast(config.data.evalSize).prefix(config.data.trainSize))
            train = Scheduler.judgeQuestions(labelledPairs)
            validation = []
            evaluation = Scheduler.judgeQuestions(all.suffix(config.data.evalSize))
        }
        if let saved = state.model { try loadModel(saved) } else { try syncWorkersToStart() }
    }

    // MARK: model placement

    func syncWorkersToStart() throws {
        guard cluster.size > 1 else { return }
        switch config.model {
        case .shape: try cluster.broadcast(.initModel(configJSON: String(decoding: model.config.jsonData(), as: UTF8.self), seed: config.seed))
        case .path(let p): try cluster.broadcast(.loadModel(path: p))
        }
    }

    /// Another model (a teacher, a win-rate judge) loaded on every rank: rank 0 keeps it beside the policy,
    /// the workers replace theirs until `restoreWorkers`. `role` names it in errors.
    func loadOnAllRanks(_ path: String, role: String) throws -> (model: LlamaModel, tokenizer: BPETokenizer) {
        let loaded = try ModelCommands.load(path, logger: logger)
        guard let t = loaded.tokenizer else { throw PipelineError("\(path): the \(role) has no tokenizer") }
        if cluster.size > 1 { try cluster.broadcast(.loadModel(path: path)) }
        return (loaded.model, t)
    }

    /// A completion service over the cluster for `model` (the policy unless given), its prompts in the
    /// model's chat format when the run's template is chat, sampled in batches of `batchSize`.
    func completions(model m: LlamaModel? = nil, tokenizer t: BPETokenizer? = nil, batchSize: Int, progress: String) -> ClusterCompletions {
        let tok = t ?? tokenizer
        return ClusterCompletions(cluster: cluster, model: m ?? model, tokenizer: tok, template: chatTemplate(of: tok), batchSize: batchSize,
                                  progress: progress, logger: logger)
    }

    /// The chat format completions are wrapped in: the tokenizer's own when the run's template is chat.
    func chatTemplate(of t: BPETokenizer) -> ChatTemplate? {
        config.data.template == "chat" ? ChatTemplate.detect(from: t.chatTemplate) : nil
    }

    /// Puts the run's current model back on the worker ranks (after they served another model).
    func restoreWorkers() throws {
        guard cluster.size > 1 else { return }
        if let saved = state.model {
            try cluster.broadcast(.loadModel(path: dir.appendingPathComponent(saved).path))
        } else {
            try syncWorkersToStart()
        }
    }

    /// Makes the model the rounds started from (after the initial phases) the current model on every rank.
    func loadStartModel() throws {
        if config.initial.contains(where: { if case .sft = $0 { return true } else { return false } }) {
            try loadModel("initial/model")
        } else if case .path(let p) = config.model {
            model = try ModelCommands.load(p, logger: logger).model
            if cluster.size > 1 { try cluster.broadcast(.loadModel(path: p)) }
        } else {
            model = LlamaModel.randomlyInitialised(config: model.config, seed: config.seed)
            try syncWorkersToStart()
        }
    }

    /// Makes `path` (relative to the run directory) the current model on every rank.
    func loadModel(_ path: String) throws {
        let url = dir.appendingPathComponent(path)
        let loaded = try Checkpoint.load(path: url.path)
        model = loaded.model
        if cluster.size > 1 { try cluster.broadcast(.loadModel(path: url.path)) }
    }

    /// Records phase `key` as done (and its training checkpoint, if any, as no longer needed).
    func complete(_ key: String) throws {
        state.done.append(key)
        state.checkpoint = nil
        try state.save(dir.appendingPathComponent("state.json"))
        KillSwitch.point("\(key)/done")
    }

    func isDone(_ key: String) -> Bool { state.done.contains(key) }

    // MARK: the run

    public func run() throws -> Outcome {
        if state.finished {
            return .alreadyFinished(try? String(contentsOf: dir.appendingPathComponent("summary.md"), encoding: .utf8))
        }
        for (i, phase) in config.initial.enumerated() {
            let key = "initial-\(i)-\(phase.name)"
            try runPhase(phase, key: key, round: 0, folder: "initial")
        }
        let startKey = "initial-evaluate"
        let start = try evaluatePhase(key: startKey, folder: "initial", label: config.initial.isEmpty ? "start" : "SFT")
        report.start = start
        report.rows.append((start.label, start, nil, []))
        var last = start
        for (r, phases) in config.rounds.enumerated() {
            let round = r + 1
            let folder = String(format: "round-%02d", round)
            var pairCount: Int?
            var result: EvaluationResult?
            for (i, phase) in phases.enumerated() {
                let key = "round-\(round)-\(i)-\(phase.name)"
                if case .evaluate = phase {
                    result = try evaluatePhase(key: key, folder: folder, label: "round \(round)")
                } else {
                    try runPhase(phase, key: key, round: round, folder: folder)
                }
                if case .pairs = phase { pairCount = try? RecordFile.read(PairRecord.self, from: dir.appendingPathComponent("\(folder)/pairs.jsonl").path).count }
            }
            if let result {
                let timings = phaseSeconds(folder)
                report.rows.append((result.label, result, pairCount, timings))
                logger.info("round \(round) done in \(String(format: "%.0f", timings.reduce(0) { $0 + $1.1 })) s\n\(report.table())")
                last = result
            }
        }
        if config.control != nil, !config.rounds.isEmpty {
            let result = try controlArm()
            report.rows.append((result.label, result, nil, []))
            let p = result.pValue(against: last)
            logger.info("control (same training compute spent on SFT): \(String(format: "%.1f%%", 100 * result.accuracy)) vs last round \(String(format: "%.1f%%", 100 * last.accuracy)), p = \(String(format: "%.2g", p))")
        }
        let table = report.table()
        try AtomicFile.write(Data((table + "\n").utf8), to: dir.appendingPathComponent("summary.md"))
        state.finished = true
        try state.save(dir.appendingPathComponent("state.json"))
        return .finished(table)
    }

    /// Wall time of each phase of a folder, as its metrics file recorded it (so a resumed run reports the
    /// times of the work done before the kill too).
    func phaseSeconds(_ folder: String) -> [(String, Double)] {
        metrics(folder).lines.compactMap { line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let phase = o["phase"] as? String, o["step"] == nil, let s = o["seconds"] as? Double else { return nil }
            return (phase, s)
        }
    }

    func runPhase(_ phase: PhaseConfig, key: String, round: Int, folder: String) throws {
        if isDone(key) { return }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent(folder), withIntermediateDirectories: true)
        state.round = round; state.phase = key
        try state.save(dir.appendingPathComponent("state.json"))
        let t0 = Date()
        switch phase {
        case .sft(let c): try sftPhase(c, key: key, folder: folder)
        case .generate(let c): try generatePhase(c, key: key, round: round, folder: folder)
        case .judge(let c): try judgePhase(c, key: key, round: round, folder: folder)
        case .pairs(let c): try pairsPhase(c, key: key, round: round, folder: folder)
        case .train(let c): try trainPhase(c, key: key, round: round, folder: folder)
        case .synthesize(let c): try synthesizePhase(c, key: key, round: round, folder: folder)
        case .evaluate: _ = try evaluatePhase(key: key, folder: folder, label: folder)
        }
        try metrics(folder).append(["phase": phase.name, "key": key, "seconds": Date().timeIntervalSince(t0)])
        try metrics(folder).flush(state: &state)
        try complete(key)
    }

    // MARK: prompts

    /// Each labelled pair as two questions: the pairwise judge prompt with the better response first
    /// (id "<pair>/AB", answer "A") and second ("<pair>/BA", answer "B").
    static func judgeQuestions<C: Collection>(_ pairs: C) -> [Problem] where C.Element == LabelledPair {
        let t = JudgeTemplates()
        return pairs.flatMap { p in
            [Problem(id: "\(p.id)/AB", question: t.fillPairwise(instruction: p.prompt, a: p.chosen, b: p.rejected), solution: "", answer: "A"),
             Problem(id: "\(p.id)/BA", question: t.fillPairwise(instruction: p.prompt, a: p.rejected, b: p.chosen), solution: "", answer: "B")]
        }
    }

    func promptText(_ p: Problem) -> String { promptText(p, template: config.data.template, tokenizer: tokenizer) }

    /// The question as shown to a model with `tokenizer` in the `template` format ("qa" or "chat").
    func promptText(_ p: Problem, template: String, tokenizer: BPETokenizer) -> String {
        let judging = config.data.isJudgePairs
        if template == "chat" {
            // A question without a reference answer (a synthesized or win-rate instruction) is shown as it is.
            var content = judging || p.answer.isEmpty ? p.question : p.question + "\nEnd your answer with '#### <number>'."
            if config.data.thought { content = ThoughtPrompt.wrap(content) }
            return ChatTemplate.detect(from: tokenizer.chatTemplate).render([ChatMessage(role: "user", content: content)])
        }
        if judging { return p.question + "\n" }
        return "Q: \(config.data.thought ? ThoughtPrompt.wrap(p.question) : p.question)\nA: "
    }

    /// The part of an output that answers: all of it, or with the thought template the response after the
    /// thoughts (nil when there is none).
    func answerPart(_ text: String) -> String? {
        config.data.thought ? ThoughtPrompt.split(text)?.response : text
    }

    /// The answer a response gives: the final number, or for judge pairs the verdict letter.
    func extractAnswer(_ text: String) -> String? {
        guard let part = answerPart(text) else { return nil }
        return config.data.isJudgePairs ? JudgeParsing.verdict(part) : VerifiableJudge.extractAnswer(part)
    }

    func isCorrect(_ text: String, _ p: Problem) -> Bool {
        guard let part = answerPart(text) else { return false }
        return config.data.isJudgePairs ? JudgeParsing.verdict(part) == p.answer : VerifiableJudge.isCorrect(part, reference: p.answer)
    }

    func promptIds(_ p: Problem) -> [Int32] { promptIds(p, template: config.data.template, tokenizer: tokenizer) }

    func promptIds(_ p: Problem, template: String, tokenizer: BPETokenizer) -> [Int32] {
        var ids = tokenizer.encode(promptText(p, template: template, tokenizer: tokenizer), parseSpecial: template == "chat")
        if tokenizer.addBosToken, let b = tokenizer.bosTokenId { ids.insert(b, at: 0) }
        return ids
    }

    func completionIds(_ text: String) -> [Int32] { tokenizer.encode(text, parseSpecial: false) + [eos] }
}
