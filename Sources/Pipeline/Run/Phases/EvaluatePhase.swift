import Alignment
import Foundation
import Kernels
import Model

/// Greedy accuracy of the policy on the evaluation questions, with LIFT's length-limited pass, the policy's
/// accuracy as a judge and the judged win rate against the previous evaluation when the config asks for
/// them (`JudgedEvaluation.swift`); written to `evaluation.json` and recorded as done at once.
struct EvaluatePhase: Phase {
    func run(_ ctx: RunContext, _ at: PhaseStep) throws {
        _ = try evaluate(ctx, key: at.key, folder: at.folder, label: at.folder.name)
    }

    func evaluate(_ ctx: RunContext, key: String, folder: RoundFolder, label: String) throws -> EvaluationResult {
        if ctx.isDone(key), let data = FileManager.default.contents(atPath: folder.url(.evaluation).path) {
            return try JSONDecoder().decode(EvaluationResult.self, from: data)
        }
        try folder.create()
        ctx.begin(key)
        let t0 = Date()
        let evaluation = ctx.task.evaluation
        var (result, greedy) = try ctx.answered(evaluation, label: label, saved: SavedChunks(folder: folder, file: .partialEvaluation, key: key))
        var extra: [String: Any] = [:]
        // Judge pairs: the verdicts read from probabilities (the greedy answers are kept as records).
        var probabilityA: [Double]?
        if ctx.config.data.isJudgePairs && ctx.config.evaluation.judgeMode == .logprob {
            let pA = try ctx.verdictProbabilities(evaluation)
            result.correct = zip(evaluation, pA).map { p, a in (a >= 0.5 ? "A" : "B") == p.answer }
            probabilityA = pA
            extra["verdicts"] = "probabilities"
        }
        let limit = ctx.config.evaluation.lengthLimit
        if limit > 0 {
            // LIFT: the same questions with a word limit; an answer over the limit counts as wrong.
            let wrapped = evaluation.map { p -> Problem in var q = p; q.question = LengthInstructions().wrap(p.question, limit: limit); return q }
            let answers = try ctx.greedyAnswers(wrapped, saved: SavedChunks(folder: folder, file: .partialLengthEvaluation, key: "\(key) (length limit)"))
            result.lengthLimit = limit
            let within = answers.map { LengthInstructions.complies($0.text, limit: limit) }
            result.withinLimit = within
            result.correctWithinLimit = answers.indices.map { within[$0] && ctx.task.isCorrect(answers[$0].text, wrapped[$0]) }
            extra = ["length_limit": limit, "length_compliance": result.compliance!, "accuracy_within_limit": result.accuracyWithinLimit!]
            ctx.logger.info("\(String(format: "%@: with a %d-word limit, %.1f%% of answers keep to it; accuracy counting the others wrong %.1f%%", label, limit, 100 * result.compliance!, 100 * result.accuracyWithinLimit!))")
        }
        let journal = folder.journal(.partialEvaluationJudging, key: key)
        if let j = try ctx.judgeAccuracy(folder: folder, journal: journal) {
            result.judgeAccuracy = j
            extra["judge_accuracy"] = j.accuracy
            extra["judge_accuracy_ci95"] = [j.interval.low, j.interval.high]
            extra["judge_single_order_accuracy"] = j.singleAccuracy
            ctx.logger.info("\(label): judge accuracy \(j.text) on \(j.pairs) labelled pairs (both orders), single-order \(String(format: "%.1f%%", 100 * j.singleAccuracy)), \(j.unparsed) unparsed")
        }
        if let w = try ctx.winRate(folder: folder, journal: journal) {
            result.winRate = w
            extra["win_rate"] = w.rate ?? NSNull()
            extra["win_rate_ci95"] = [w.low, w.high]
            extra["win_rate_counts"] = ["wins": w.wins, "losses": w.losses, "ties": w.ties, "unparsed": w.unparsed]
            ctx.logger.info("\(label): judged win rate against \(w.against) \(w.text): \(w.wins) wins, \(w.losses) losses, \(w.ties) ties, \(w.unparsed) unparsed")
        }
        try folder.writeLines(evaluation.indices.map { k in
            let (p, g) = (evaluation[k], greedy[k])
            var line: [String: Any] = ["id": p.id, "question": p.question, "answer": g.text, "extracted": ctx.task.extractAnswer(g.text) ?? NSNull(),
                                       "gold": p.answer, "correct": result.correct[k], "tokens": g.tokens.count, "finish_reason": g.finishReason]
            if let pA = probabilityA { line["p_a"] = pA[k]; line["verdict"] = pA[k] >= 0.5 ? "A" : "B" }
            return line
        }, to: .evaluationAnswers)
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        try AtomicFile.write(try e.encode(result), to: folder.url(.evaluation))
        // The chunks go once the result is written (a kill before `complete` evaluates again, to the same bytes).
        folder.removePartial(.partialEvaluation)
        folder.removePartial(.partialLengthEvaluation)
        journal.remove()
        let log = ctx.metrics(folder)
        try log.append(["phase": "evaluate", "label": label, "accuracy": result.accuracy, "ci95_low": result.interval.low,
                        "ci95_high": result.interval.high, "mean_length": result.meanLength, "seconds": Date().timeIntervalSince(t0)]
                       .merging(extra) { a, _ in a })
        try log.flush(state: &ctx.state)
        try ctx.complete(key)
        ctx.logger.info("\(String(format: "%@: accuracy %.1f%% (95%% CI %.1f-%.1f) on %d problems", label, 100 * result.accuracy, 100 * result.interval.low, 100 * result.interval.high, result.correct.count))")
        return result
    }
}
