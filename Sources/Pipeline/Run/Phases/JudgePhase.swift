import Alignment
import Foundation
import Generation

/// Judges the round's outputs into `judgments.jsonl`: by their final answer against the reference
/// (verifiable), by majority vote among a prompt's samples (self-consistency), or by the policy with a
/// rubric (LLM pointwise, optionally meta-judged: `MetaJudgePhase`).
struct JudgePhase: Phase {
    let config: JudgeConfig

    func run(_ ctx: RunContext, _ at: PhaseStep) throws {
        let gens = try at.folder.read(.generations)
        let problems = try ctx.problemsById(at.folder)
        if config.kind == .llmPointwise { return try pointwise(ctx, at, gens: gens, problems: problems) }
        var out: [JudgmentRecord] = []
        let grouped = gens.byPrompt()
        let progress = Progress(at.key, total: grouped.count, logger: ctx.logger)
        for (id, items) in grouped {
            defer { progress.advance() }
            if config.kind == .verifiable {
                guard let p = problems[id] else { throw PipelineError("\(at.folder.relative(.generations)): unknown prompt id \(id)") }
                for g in items {
                    let answer = ctx.task.extractAnswer(g.text)
                    let ok = ctx.task.isCorrect(g.text, p)
                    out.append(JudgmentRecord(promptId: id, sampleIndex: g.sampleIndex, score: ok ? 1 : 0, verdict: ok ? "correct" : "incorrect",
                                              raw: answer ?? "", parsed: answer != nil))
                }
            } else {
                let votes = SelfConsistency.votes(items.map(\.text))
                for (g, v) in zip(items, votes) {
                    let answer = VerifiableJudge.extractAnswer(g.text)
                    out.append(JudgmentRecord(promptId: id, sampleIndex: g.sampleIndex, votes: v, raw: answer ?? "", parsed: answer != nil))
                }
            }
        }
        try at.folder.write(out, as: .judgments)
        let scored = out.compactMap(\.score)
        try ctx.metrics(at.folder).append(["phase": "judge", "judgments": out.count, "unparsed": out.filter { !$0.parsed }.count,
                                           "fraction_correct": scored.isEmpty ? 0 : scored.reduce(0, +) / Double(scored.count)])
    }

    /// Self-Rewarding's judge: the policy scores every response `judgments` times with the additive
    /// 5-point rubric (sampled, sharded over the ranks like generation); the parseable scores are averaged.
    /// A response none of whose judgments parse has no score (and gets into no pair); the count is reported.
    func pointwise(_ ctx: RunContext, _ at: PhaseStep, gens: [GenerationRecord], problems: [String: Problem]) throws {
        let c = config
        var templates = JudgeTemplates()
        if let path = c.rubric { templates.pointwise = try String(contentsOfFile: path, encoding: .utf8) }
        // With the thought template the judge sees only the response part; outputs without one are not judged.
        let shown = gens.map { ctx.task.answerPart($0.text) }
        let items = try zip(gens, shown).compactMap { g, response -> (instruction: String, response: String)? in
            guard let p = problems[g.promptId] else { throw PipelineError("\(at.folder.relative(.generations)): unknown prompt id \(g.promptId)") }
            return response.map { (p.question, $0) }
        }
        var params = c.sampling
        params.seed = StreamTag.judgeSampling.seed(ctx.config.seed); params.round = UInt64(at.round)
        let service = ctx.completions(batchSize: c.batchSize, progress: "judge")
        ctx.logger.info("judge: \(items.count) responses x \(c.judgments) judgments by the policy")
        var results = try PointwiseJudge(templates: templates, judgments: c.judgments, params: params).judge(items, with: service)[...]
        let out = zip(gens, shown).map { g, response -> JudgmentRecord in
            guard let response else {
                return JudgmentRecord(promptId: g.promptId, sampleIndex: g.sampleIndex, verdict: JudgmentRecord.noResponse, raw: "", parsed: false)
            }
            let r = results.removeFirst()
            return JudgmentRecord(promptId: g.promptId, sampleIndex: g.sampleIndex, score: r.score, raw: r.raw.joined(separator: "\n---\n"),
                                  parsed: r.score != nil, judgeTexts: r.raw, judgeScores: r.scores,
                                  judgedResponse: ctx.config.data.thought ? response : nil)
        }
        let judged = out.filter(\.judged)
        try at.folder.write(out, as: .judgments)
        let scores = out.compactMap(\.score)
        let unparsedJudgments = judged.reduce(0) { $0 + ($1.judgeScores ?? []).filter { $0 == nil }.count }
        try ctx.metrics(at.folder).append(["phase": "judge", "judgments": judged.count * c.judgments, "unparsed_judgments": unparsedJudgments,
                                           "unscored_responses": out.count - scores.count, "outputs_without_response": out.count - judged.count,
                                           "mean_score": scores.isEmpty ? 0 : scores.reduce(0, +) / Double(scores.count)])
        if c.metaJudge {
            try MetaJudgePhase(config: c).run(ctx, at, gens: gens, judgments: out, problems: problems, templates: templates, service: service)
        }
        if judged.count < out.count { ctx.logger.info("judge: \(out.count - judged.count) of \(out.count) outputs have no response part and are not judged") }
        ctx.logger.info("judge: \(unparsedJudgments) of \(judged.count * c.judgments) judgments unparseable; \(scores.count) of \(out.count) responses scored")
    }
}
