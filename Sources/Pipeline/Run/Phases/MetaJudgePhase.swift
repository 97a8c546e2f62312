import Alignment
import Cluster
import Foundation
import Generation
import Tokenizer

/// Meta-Rewarding's meta-judge, run by the judge phase after the pointwise judgments.
struct MetaJudgePhase {
    let config: JudgeConfig

    /// Meta-Rewarding's meta-judge. For each prompt, the response whose parsed judge scores vary most (at
    /// least two parsed judgments, population variance above 0; the lowest sample index on a tie) has every
    /// two of its parsed judgments compared by the judge (the policy, or `judge.model`) in both orders.
    /// Position-bias weights come from all the round's outcomes, Elo ratings from each response's weighted
    /// battles (maximum likelihood with an l2 of 0.01 on the log-strengths, so that an unbeaten judgment
    /// stays finite). Written to `meta_judgments.jsonl`.
    func run(_ ctx: RunContext, _ at: PhaseStep, gens: [GenerationRecord], judgments: [JudgmentRecord], problems: [String: Problem],
             templates: JudgeTemplates, judge: Judge) throws {
        let c = config
        struct Disputed { var gen: GenerationRecord; var instruction: String; var response: String; var texts: [String]; var scores: [Double] }
        var disputed: [Disputed] = []
        var judgmentOf: [SampleKey: JudgmentRecord] = [:]
        for (g, j) in zip(gens, judgments) { judgmentOf[SampleKey(g)] = j }
        for (id, items) in gens.byPrompt() {
            guard let p = problems[id] else { continue }
            var best: (variance: Double, item: Disputed)?
            for g in items {
                guard let j = judgmentOf[SampleKey(g)] else { continue }
                let parsed = zip(j.judgeTexts ?? [], j.judgeScores ?? []).compactMap { t, s in s.map { (t, $0) } }
                guard parsed.count >= 2, let response = ctx.task.answerPart(g.text) else { continue }
                let scores = parsed.map(\.1), mean = scores.reduce(0, +) / Double(scores.count)
                let variance = scores.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(scores.count)
                if variance > 0 && variance > (best?.variance ?? 0) {
                    best = (variance, Disputed(gen: g, instruction: p.question, response: response, texts: parsed.map(\.0), scores: scores))
                }
            }
            if let b = best { disputed.append(b.item) }
        }
        // Every two judgments m < n, m shown as A and then n shown as A.
        var prompts: [String] = []
        var battleIndex: [[(Int, Int)]] = []
        for d in disputed {
            var pairs: [(Int, Int)] = []
            for m in 0..<d.texts.count { for n in (m + 1)..<d.texts.count {
                pairs.append((m, n))
                prompts.append(MetaJudge.fill(MetaJudge.defaultTemplate, instruction: d.instruction, response: d.response, a: d.texts[m], b: d.texts[n]))
                prompts.append(MetaJudge.fill(MetaJudge.defaultTemplate, instruction: d.instruction, response: d.response, a: d.texts[n], b: d.texts[m]))
            } }
            battleIndex.append(pairs)
        }
        ctx.logger.info("meta-judge: \(disputed.count) disputed responses, \(prompts.count) meta-judgments by \(c.model ?? "the policy")")
        var params = c.sampling
        params.seed = StreamTag.metaJudgeSampling.seed(ctx.config.seed); params.round = UInt64(at.round)
        // In logprob mode "Winner: Judgement " is forced and A against B read; the text records the
        // verdict and its probability.
        let texts: [String]
        if prompts.isEmpty {
            texts = []
        } else if c.mode == .logprob {
            let queries = prompts.map { VerdictQuery(prompt: $0, answerPrefix: "Winner: Judgement ", candidates: ["A", "B"]) }
            texts = try judge.scorer.logprobs(queries).map { lp in
                let d = VerdictDistribution(candidates: ["A", "B"], logprobs: lp)
                return "Winner: Judgement \(d.candidates[d.mostLikely]) (p = \(String(format: "%.4f", d.probabilities[d.mostLikely])))"
            }
        } else {
            texts = try judge.service.complete(prompts, samples: 1, params: params).map { $0[0] }
        }
        var cursor = 0
        var battles: [[MetaJudge.Battle]] = [], metaTexts: [[String]] = []
        for pairs in battleIndex {
            battles.append(pairs.map { m, n in
                defer { cursor += 2 }
                return MetaJudge.Battle(m: m, n: n, forward: MetaJudge.winner(texts[cursor]), backward: MetaJudge.winner(texts[cursor + 1]))
            })
            metaTexts.append(Array(texts[(cursor - 2 * pairs.count)..<cursor]))
        }
        let weights = MetaJudge.positionWeights(battles.flatMap { $0 })
        var records: [MetaJudgmentRecord] = []
        for (k, d) in disputed.enumerated() {
            let wins = MetaJudge.winMatrix(battles[k], players: d.texts.count, weights: weights)
            let elo = MetaJudge.elo(MetaJudge.strengths(wins, l2: 0.01))
            let hi = elo.indices.max { elo[$0] < elo[$1] || (elo[$0] == elo[$1] && $0 > $1) }!
            let lo = elo.indices.min { elo[$0] < elo[$1] || (elo[$0] == elo[$1] && $0 < $1) }!
            let differ = elo[hi] - elo[lo] > 1e-6
            records.append(MetaJudgmentRecord(promptId: d.gen.promptId, sampleIndex: d.gen.sampleIndex,
                                              judgePrompt: templates.fillPointwise(instruction: d.instruction, response: d.response),
                                              judgments: d.texts, scores: d.scores, battles: battles[k], metaTexts: metaTexts[k], elo: elo,
                                              chosen: differ ? hi : nil, rejected: differ ? lo : nil))
        }
        try at.folder.write(records, as: .metaJudgments)
        let unparsed = texts.filter { MetaJudge.winner($0) == nil }.count
        try ctx.metrics(at.folder).append(["phase": "meta_judge", "disputed_responses": disputed.count, "meta_judgments": texts.count,
                                    "unparsed_meta_judgments": unparsed, "position_weight_first": weights.first,
                                    "position_weight_second": weights.second, "judge_pairs": records.filter { $0.chosen != nil }.count])
        ctx.logger.info("meta-judge: \(unparsed) of \(texts.count) meta-judgments unparseable; \(records.filter { $0.chosen != nil }.count) judge pairs")
    }
}

extension MetaJudgePhase {
    /// The judge pairs of the meta-judgments: the judge prompt (in the chat format the judge saw), the
    /// highest-Elo judgment chosen and the lowest rejected.
    static func judgePairs(_ ctx: RunContext, _ meta: [MetaJudgmentRecord]) -> (pairs: [TokenizedPair], records: [PairRecord]) {
        let encoder = PromptEncoder(tokenizer: ctx.tokenizer, template: ctx.chatTemplate(of: ctx.tokenizer))
        var pairs: [TokenizedPair] = [], records: [PairRecord] = []
        for m in meta {
            guard let c = m.chosen, let r = m.rejected else { continue }
            let chosen = ctx.task.completionIds(m.judgments[c]), rejected = ctx.task.completionIds(m.judgments[r])
            let room = ctx.policy.config.maxPositions - max(chosen.count, rejected.count)
            guard room > 0 else { continue }
            let prompt = Array(encoder.encode(m.judgePrompt).suffix(room))
            pairs.append(TokenizedPair(prompt: prompt, chosen: chosen, rejected: rejected))
            records.append(PairRecord(promptId: "\(m.promptId)/judge", prompt: m.judgePrompt, chosen: m.judgments[c], rejected: m.judgments[r],
                                      promptIds: prompt, chosenIds: chosen, rejectedIds: rejected))
        }
        return (pairs, records)
    }
}
