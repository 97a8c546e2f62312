import Alignment
import Cluster
import Distributed
import Foundation
import Logging
import Model
import Tokenizer

/// Carries out a run: the initial phases (SFT to a plateau), then the rounds (each a list of phases:
/// `Phases/`), then the control arm, writing everything to the run directory and recording in
/// `state.json` after each unit of work, so that `--resume` continues where a killed run stopped.
public final class Scheduler {
    let ctx: RunContext
    var report = RoundReport()
    /// Held while the scheduler lives: one run at a time in a run directory.
    let lock: RunLock

    public enum Outcome { case finished(String), alreadyFinished(String?) }

    public init(config: RunConfig, cluster: Cluster, resume: Bool, force: Bool, logger: Logger) throws {
        let dir = URL(fileURLWithPath: config.outputDir)
        let stateURL = dir.appendingPathComponent(RunState.fileName), configURL = dir.appendingPathComponent(RunState.configFileName)
        var state: RunState
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        lock = try RunLock(directory: dir)
        if let existing = try RunState.load(stateURL) {
            guard resume else {
                throw PipelineError("\(config.outputDir) already holds a run; use --resume to continue it or choose another run.output_dir")
            }
            if existing.configHash != config.hash {
                let before = (try? String(contentsOf: configURL, encoding: .utf8)).flatMap { try? ConfigNode.parse(yaml: $0, file: configURL.path) }
                let changed = config.changedKeys(since: before)
                // A state written before the output location left the hash has another hash for the same config.
                if before == nil || !changed.isEmpty {
                    let keys = changed.isEmpty ? "" : " (changed: \(changed.prefix(8).joined(separator: ", "))\(changed.count > 8 ? ", ..." : ""))"
                    if existing.finished {
                        throw PipelineError("\(config.outputDir) was started with a different configuration\(keys) and has finished; a finished run is neither extended nor changed (not even with --force): give another run.output_dir")
                    }
                    if !force { throw PipelineError("\(config.outputDir) was started with a different configuration\(keys); --force resumes anyway") }
                }
            }
            cluster.noteResumed(fromRanks: existing.worldSize)
            state = existing
            state.stopped = nil
            let leftovers = RunState.removeLeftovers(in: dir)
            if !leftovers.isEmpty { logger.info("resume: removed \(leftovers.count) half-written file(s) of the killed run") }
        } else {
            state = RunState(configHash: config.hash, worldSize: cluster.size)
        }
        let questions = try config.checkData()
        if case .file(let train, _) = config.data.task, config.data.validationSize > 0 {
            logger.info("data: the last \(config.data.validationSize) problems of \(train) are the validation split (data.validation_size), not trained on")
        }
        // The model on every rank, its tokenizer, the task.
        let policy: LlamaModel, tokenizer: BPETokenizer
        switch config.model {
        case .shape(let s):
            tokenizer = BPETokenizer.bytes()
            var c = LlamaConfig.named(s, vocabSize: tokenizer.vocabularySize)!
            c.bosTokenId = Int(tokenizer.bosTokenId!); c.eosTokenIds = [Int(tokenizer.eosTokenId!)]
            policy = try cluster.initialise(c, seed: config.seed)
        case .path(let p):
            let loaded = try cluster.load(p)
            policy = loaded.model
            switch (config.tokenizer, loaded.tokenizer) {
            case (.bytes, _): tokenizer = BPETokenizer.bytes()
            case (_, let t?): tokenizer = t
            case (_, nil): throw PipelineError("\(p): the model has no tokenizer")
            }
        }
        let eos = tokenizer.eosTokenId ?? Int32(policy.config.eosTokenIds.first ?? 0)
        let task = TaskFormat(data: config.data, questions: questions, tokenizer: tokenizer, eos: eos)
        ctx = RunContext(config: config, cluster: cluster, logger: logger, dir: dir, state: state, policy: policy, task: task)
        if state.finished { return }
        ctx.state.configHash = config.hash
        ctx.state.commands = (state.commands ?? []) + [ProcessInfo.processInfo.arguments.map(Self.shellQuoted).joined(separator: " ")]
        try AtomicFile.write(Data(config.tree.json().utf8), to: configURL)
        if let saved = state.model { try ctx.loadModel(saved) }
    }

    // MARK: the run

    public func run() throws -> Outcome {
        Progress.observer = { [progress = ctx.progress] in progress.advance(label: $0, done: $1, total: $2, status: $3) }
        defer { Progress.observer = nil }
        do { return try runSchedule() } catch {
            recordStop(error)
            throw error
        }
    }

    /// Records in `state.json` why the run ended unfinished, for `autodidact status` (best effort: the error
    /// itself is what the run reports).
    func recordStop(_ error: Error) {
        var reason = RunState.Stop.Reason.error
        if error is Preemption.Stopped { reason = .preempted }
        if error is TrainingDiverged { reason = .nonFinite }
        if case .rankFailed? = error as? DistributedError { reason = .rankFailed }
        ctx.progress.flush()
        ctx.state.stopped = .init(reason: reason, unit: ctx.cluster.activity, message: "\(error)", time: Date().timeIntervalSince1970)
        try? ctx.saveState()
    }

    func runSchedule() throws -> Outcome {
        if ctx.state.finished {
            return .alreadyFinished(try? String(contentsOf: ctx.dir.appendingPathComponent(RunState.summaryFileName), encoding: .utf8))
        }
        let initial = ctx.initialFolder
        for (i, phase) in ctx.config.initial.enumerated() {
            try runPhase(phase, PhaseStep(key: "initial-\(i)-\(phase.name)", round: 0, folder: initial))
        }
        let start = try EvaluatePhase().evaluate(ctx, key: "initial-evaluate", folder: initial, label: ctx.config.initial.isEmpty ? "start" : "SFT")
        report.start = start
        report.rows.append(.init(label: start.label, result: start, pairs: nil, seconds: []))
        var last = start, lastRound: Int?
        if let gate = ctx.config.promotion.map(PromotionGate.init), !ctx.config.rounds.isEmpty {
            _ = try gate.devResult(ctx, key: "initial-dev", folder: initial, label: start.label)
        }
        for (r, phases) in ctx.config.rounds.enumerated() {
            let round = r + 1, folder = ctx.round(round)
            var result: EvaluationResult?
            for (i, phase) in phases.enumerated() {
                let key = "round-\(round)-\(i)-\(phase.name)"
                if case .evaluate = phase {
                    result = try EvaluatePhase().evaluate(ctx, key: key, folder: folder, label: "round \(round)")
                } else {
                    try runPhase(phase, PhaseStep(key: key, round: round, folder: folder))
                }
            }
            var promoted = true
            if let gate = ctx.config.promotion.map(PromotionGate.init) {
                let decision = try gate.run(ctx, round: round)
                promoted = decision.promoted
                report.promotions.append(decision.line)
            }
            if let result {
                let pairCount = phases.contains { if case .pairs = $0 { return true } else { return false } }
                    ? (try? folder.read(.pairs).count) : nil
                let timings = phaseSeconds(folder)
                report.rows.append(.init(label: result.label, result: result, pairs: pairCount, seconds: timings, promoted: promoted))
                let seconds = timings.reduce(0) { $0 + $1.1 }
                // The table after each round but the last: the run ends by printing it whole.
                let table = round < ctx.config.rounds.count ? "\n" + report.table() : ""
                ctx.logger.info("round \(round) done in \(String(format: "%.0f", seconds)) s\(table)")
                if promoted { last = result; lastRound = round }
            }
            writeReport()
        }
        if ctx.config.control != nil, !ctx.config.rounds.isEmpty {
            let result = try ControlPhase().run(ctx)
            report.rows.append(.init(label: result.label, result: result, pairs: nil, seconds: []))
            let p = result.pValue(against: last)
            ctx.logger.info("control (same training compute spent on SFT): \(String(format: "%.1f%%", 100 * result.accuracy)) vs last round \(String(format: "%.1f%%", 100 * last.accuracy)), p = \(String(format: "%.2g", p))")
        }
        var table = report.table()
        let audits = (1...max(1, ctx.config.rounds.count)).compactMap { r -> String? in
            guard let d = try? Data(contentsOf: ctx.round(r).url(.judgeAudit)) else { return nil }
            return (try? JSONDecoder().decode(JudgeAuditReport.self, from: d))?.summaryLine
        }
        if !audits.isEmpty { table += "\n\n" + audits.joined(separator: "\n") }
        let cases = lastRound.map { worstCases(start: start, final: last, round: $0) } ?? ""
        try AtomicFile.write(Data((table + cases + "\n").utf8), to: ctx.dir.appendingPathComponent(RunState.summaryFileName))
        ctx.state.finished = true
        ctx.state.round = nil; ctx.state.phase = nil
        try ctx.saveState()
        writeReport()
        return .finished(table)
    }

    /// Runs one phase unless `state.json` has it done: the folder made, the state recorded, the phase's
    /// wall time and peak resident memory added to the folder's metrics, then the phase recorded as done.
    func runPhase(_ config: PhaseConfig, _ at: PhaseStep) throws {
        if ctx.isDone(at.key) { return }
        try Preemption.check("the start of \(at.key)")
        ctx.begin(at.key)
        try at.folder.create()
        ctx.state.round = at.round; ctx.state.phase = at.key
        try ctx.saveState()
        let t0 = Date()
        ResidentMemory.resetPeak()
        try config.phase.run(ctx, at)
        let log = ctx.metrics(at.folder)
        var line: [String: Any] = ["phase": config.name, "key": at.key, "seconds": Date().timeIntervalSince(t0)]
        // Rank 0's peak resident memory during the phase.
        if let mb = ResidentMemory.peakMB() { line["peak_rss_mb"] = (mb * 10).rounded() / 10 }
        try log.append(line)
        try log.flush(state: &ctx.state)
        try ctx.complete(at.key)
    }

    /// For summary.md: the test questions the start answered right and the final model (round `round`) gets
    /// wrong, the first few linked to the evaluation file that holds their answers.
    func worstCases(start: EvaluationResult, final: EvaluationResult, round: Int) -> String {
        let lost = zip(start.correct, final.correct).enumerated().filter { $0.element.0 && !$0.element.1 }.map(\.offset)
        guard !lost.isEmpty, lost.last! < ctx.task.evaluation.count else { return "" }
        let file = ctx.round(round).relative(.evaluationAnswers), shown = lost.prefix(8)
        let ids = shown.map { "`\(ctx.task.evaluation[$0].id)`" }.joined(separator: ", ")
        return "\n\nWorst cases: \(lost.count) test question(s) \(start.label) answered right and \(final.label) answers wrong"
            + " (their answers, with the start's in initial/, are in [\(file)](\(file))): \(ids)\(lost.count > shown.count ? ", ..." : "")."
    }

    /// `report.html`, rewritten at the end of each round and of the run. It is for people: a report that
    /// cannot be written is a warning, never the end of the run.
    func writeReport() {
        do { try RunReport.write([ctx.dir]) } catch { ctx.logger.warning("the run's report could not be written: \(error)") }
    }

    /// A command-line argument as a POSIX shell reads it back.
    static func shellQuoted(_ a: String) -> String {
        a.range(of: "^[A-Za-z0-9_./=:,+@%-]+$", options: .regularExpression) != nil ? a : "'" + a.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Wall time of each phase of a folder, as its metrics file recorded it (so a resumed run reports the
    /// times of the work done before the kill too).
    func phaseSeconds(_ folder: RoundFolder) -> [(String, Double)] {
        ctx.metrics(folder).lines.compactMap { line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let phase = o["phase"] as? String, o["step"] == nil, let s = o["seconds"] as? Double else { return nil }
            return (phase, s)
        }
    }
}
