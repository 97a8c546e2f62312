import Alignment
import Foundation
import Generation

/// Self-Rewarding's judge: the judge (the policy, or `judge.model`) scores every response with the
/// additive rubric. In logprob mode (the default) the score is read from its probabilities after
/// "Score: " (optionally after reasoning it writes first); in generate mode it writes `judgments`
/// sampled judgments and the parseable scores are averaged. With an audit, the judge also scores a gold
/// slice of labelled pairs, and the round stops below `min_gold_accuracy` before any pair is built.
struct PointwiseJudgePhase {
    let config: JudgeConfig

    func run(_ ctx: RunContext, _ at: PhaseStep, gens: [GenerationRecord], problems: [String: Problem]) throws {
        let c = config
        var templates = JudgeTemplates()
        if let path = c.rubric { templates.pointwise = try String(contentsOfFile: path, encoding: .utf8) }
        // With the thought template the judge sees only the response part; outputs without one are not judged.
        let shown = gens.map { ctx.task.answerPart($0.text) }
        let items = try zip(gens, shown).compactMap { g, response -> (instruction: String, response: String)? in
            guard let p = problems[g.promptId] else { throw PipelineError("\(at.folder.relative(.generations)): unknown prompt id \(g.promptId)") }
            return response.map { (p.question, $0) }
        }
        let gold = try c.audit.map { Array(try ArithmeticJudgePairs.read($0.goldPairs).suffix($0.goldCount)) } ?? []
        let goldItems = gold.flatMap { [($0.prompt, $0.chosen), ($0.prompt, $0.rejected)] }
        var params = c.sampling
        params.seed = StreamTag.judgeSampling.seed(ctx.config.seed); params.round = UInt64(at.round)
        let who = c.model ?? "the policy"
        let extra = gold.isEmpty ? "" : ", and \(gold.count) gold pairs for the audit"
        ctx.logger.info("judge: \(items.count) responses by \(who), \(c.mode.rawValue) mode\(c.reasoning ? " with reasoning first" : "")\(extra)")
        var out: [JudgmentRecord] = [], goldOutcomes: [PointwiseOutcome] = []
        let journal = at.folder.journal(.partialJudgments, key: at.key)
        try ctx.withJudge(c.model, precision: c.precision, batchSize: c.batchSize, progress: "judge", journal: journal) { judge in
            let outcomes = try PointwiseOutcome.judge(items + goldItems, config: c, templates: templates, params: params, judge: judge)
            var results = outcomes.prefix(items.count)[...]
            goldOutcomes = Array(outcomes.dropFirst(items.count))
            out = zip(gens, shown).map { g, response -> JudgmentRecord in
                guard let response else {
                    return JudgmentRecord(promptId: g.promptId, sampleIndex: g.sampleIndex, verdict: JudgmentRecord.noResponse, raw: "", parsed: false)
                }
                let r = results.removeFirst()
                var record = JudgmentRecord(promptId: g.promptId, sampleIndex: g.sampleIndex, score: r.score, raw: r.texts.joined(separator: "\n---\n"),
                                            parsed: r.score != nil, judgeTexts: r.texts.isEmpty ? nil : r.texts, judgeScores: r.scores,
                                            judgedResponse: ctx.config.data.thought ? response : nil)
                record.distributions = r.distributions; record.mostLikely = r.mostLikely; record.entropy = r.entropy; record.cut = r.cut
                return record
            }
            try at.folder.write(out, as: .judgments)
            if c.metaJudge {
                try MetaJudgePhase(config: c).run(ctx, at, gens: gens, judgments: out, problems: problems, templates: templates, judge: judge)
            }
        }
        let judged = out.filter(\.judged)
        let scores = out.compactMap(\.score)
        let unparsedJudgments = judged.reduce(0) { $0 + ($1.judgeScores ?? []).filter { $0 == nil }.count }
        var fields: [String: Any] = ["phase": "judge", "mode": c.mode.rawValue, "judgments": judged.count * (c.mode == .logprob && !c.reasoning ? 1 : c.judgments),
                                     "unparsed_judgments": unparsedJudgments, "unscored_responses": out.count - scores.count,
                                     "outputs_without_response": out.count - judged.count,
                                     "mean_score": scores.isEmpty ? 0 : scores.reduce(0, +) / Double(scores.count)]
        if c.mode == .logprob { fields["cut_reasonings"] = judged.reduce(0) { $0 + ($1.cut ?? 0) } }
        try ctx.metrics(at.folder).append(fields)
        journal.remove()
        if judged.count < out.count { ctx.logger.info("judge: \(out.count - judged.count) of \(out.count) outputs have no response part and are not judged") }
        ctx.logger.info("judge: \(unparsedJudgments) judgments unparseable; \(scores.count) of \(out.count) responses scored")
        if let audit = c.audit { try self.audit(ctx, at, audit, gold: gold, outcomes: goldOutcomes, judgments: out, shown: shown) }
    }

    /// Writes `judge_audit.json`, and stops the run when the gold accuracy is under the threshold.
    func audit(_ ctx: RunContext, _ at: PhaseStep, _ a: JudgeAuditConfig, gold: [LabelledPair], outcomes: [PointwiseOutcome],
               judgments: [JudgmentRecord], shown: [String?]) throws {
        let g = gold.indices.map { JudgeAuditReport.Gold(id: gold[$0].id, chosenScore: outcomes[2 * $0].score, rejectedScore: outcomes[2 * $0 + 1].score) }
        let judged = zip(judgments, shown).compactMap { j, s in s.map { (record: j, response: $0) } }
        let report = JudgeAuditReport(round: at.round, mode: config.mode, gold: g, judged: judged, goldCut: outcomes.reduce(0) { $0 + ($1.cut ?? 0) })
        try report.write(to: at.folder.url(.judgeAudit))
        ctx.logger.info("judge audit: \(report.summaryLine.dropFirst(2))")
        if report.goldAccuracy < a.minGoldAccuracy {
            throw PipelineError("round \(at.round): the judge's gold accuracy is \(String(format: "%.3f", report.goldAccuracy)) (\(report.goldCorrect) of \(report.goldPairs) pairs, \(at.folder.relative(.judgeAudit))), below judge.audit.min_gold_accuracy \(a.minGoldAccuracy): stopping before training on its verdicts. Change the judge or the threshold and resume with --resume --force")
        }
    }
}
