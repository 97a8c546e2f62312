import Alignment
import Foundation
import Generation

/// Judges the round's outputs into `judgments.jsonl`: by their final answer against the reference
/// (verifiable; with `require_stop` an output cut at the token limit is `unfinished`), by majority vote
/// among a prompt's samples (self-consistency), or by the policy with a rubric (LLM pointwise, optionally
/// meta-judged: `MetaJudgePhase`).
struct JudgePhase: Phase {
    let config: JudgeConfig

    func run(_ ctx: RunContext, _ at: PhaseStep) throws {
        let gens = try at.folder.read(.generations)
        let problems = try ctx.problemsById(at.folder)
        if config.kind == .llmPointwise { return try PointwiseJudgePhase(config: config).run(ctx, at, gens: gens, problems: problems) }
        var out: [JudgmentRecord] = []
        let grouped = gens.byPrompt()
        let progress = Progress(at.key, total: grouped.count, logger: ctx.logger)
        for (id, items) in grouped {
            defer { progress.advance() }
            if config.kind == .verifiable {
                guard let p = problems[id] else { throw PipelineError("\(at.folder.relative(.generations)): unknown prompt id \(id)") }
                for g in items {
                    let answer = ctx.task.extractAnswer(g.text)
                    let unfinished = config.requireStop && g.finishReason == "length"
                    let ok = !unfinished && ctx.task.isCorrect(g.text, p)
                    let verdict = unfinished ? JudgmentRecord.unfinished : ok ? "correct" : "incorrect"
                    out.append(JudgmentRecord(promptId: id, sampleIndex: g.sampleIndex, score: ok ? 1 : 0, verdict: verdict,
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
        // Self-consistency votes score nothing: no fraction correct then.
        var line: [String: Any] = ["phase": "judge", "judgments": out.count, "unparsed": out.filter { !$0.parsed }.count]
        if !scored.isEmpty { line["fraction_correct"] = scored.reduce(0, +) / Double(scored.count) }
        if config.requireStop { line["unfinished"] = out.filter { $0.verdict == JudgmentRecord.unfinished }.count }
        try ctx.metrics(at.folder).append(line)
    }
}
