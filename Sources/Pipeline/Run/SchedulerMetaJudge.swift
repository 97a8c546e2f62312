import Alignment
import Foundation
import Generation
import Tokenizer

extension Scheduler {
    /// Meta-Rewarding's meta-judge. For each prompt, the response whose parsed judge scores vary most (at
    /// least two parsed judgments, population variance above 0; the lowest sample index on a tie) has every
    /// two of its parsed judgments compared by the policy in both orders. Position-bias weights come from
    /// all the round's outcomes, Elo ratings from each response's weighted battles (maximum likelihood with
    /// an l2 of 0.01 on the log-strengths, so that an unbeaten judgment stays finite). Written to
    /// `meta_judgments.jsonl`.
    func metaJudgePhase(_ c: JudgeConfig, gens: [GenerationRecord], judgments: [JudgmentRecord], problems: [String: Problem],
                        templates: JudgeTemplates, service: ClusterCompletions, round: Int, folder: String) throws {
        struct Disputed { var gen: GenerationRecord; var instruction: String; var response: String; var texts: [String]; var scores: [Double] }
        var disputed: [Disputed] = []
        var judgmentOf: [String: JudgmentRecord] = [:]
        for (g, j) in zip(gens, judgments) { judgmentOf["\(g.promptId)#\(g.sampleIndex)"] = j }
        for (id, items) in groups(gens) {
            guard let p = problems[id] else { continue }
            var best: (variance: Double, item: Disputed)?
            for g in items {
                guard let j = judgmentOf["\(id)#\(g.sampleIndex)"] else { continue }
                let parsed = zip(j.judgeTexts ?? [], j.judgeScores ?? []).compactMap { t, s in s.map { (t, $0) } }
                guard parsed.count >= 2, let response = answerPart(g.text) else { continue }
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
        logger.info("meta-judge: \(disputed.count) disputed responses, \(prompts.count) meta-judgments by the policy")
        var params = SamplingParameters()
        params.temperature = c.temperature; params.maxNewTokens = c.maxNewTokens; params.truncatePrompts = true
        params.seed = config.seed ^ 0x3E7A; params.round = UInt64(round)
        let texts = prompts.isEmpty ? [] : try service.complete(prompts, samples: 1, params: params).map { $0[0] }
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
        try RecordFile.write(records, to: dir.appendingPathComponent("\(folder)/meta_judgments.jsonl").path)
        let unparsed = texts.filter { MetaJudge.winner($0) == nil }.count
        try metrics(folder).append(["phase": "meta_judge", "disputed_responses": disputed.count, "meta_judgments": texts.count,
                                    "unparsed_meta_judgments": unparsed, "position_weight_first": weights.first,
                                    "position_weight_second": weights.second, "judge_pairs": records.filter { $0.chosen != nil }.count])
        logger.info("meta-judge: \(unparsed) of \(texts.count) meta-judgments unparseable; \(records.filter { $0.chosen != nil }.count) judge pairs")
    }

    /// The judge pairs of the meta-judgments: the judge prompt (in the chat format the judge saw), the
    /// highest-Elo judgment chosen and the lowest rejected.
    func judgePairs(_ meta: [MetaJudgmentRecord]) throws -> (pairs: [TokenizedPair], records: [PairRecord]) {
        let template = chatTemplate(of: tokenizer)
        var pairs: [TokenizedPair] = [], records: [PairRecord] = []
        for m in meta {
            guard let c = m.chosen, let r = m.rejected else { continue }
            let chosen = completionIds(m.judgments[c]), rejected = completionIds(m.judgments[r])
            let room = model.config.maxPositions - max(chosen.count, rejected.count)
            guard room > 0 else { continue }
            let prompt = Array(BatchGenerate.encode([m.judgePrompt], tokenizer: tokenizer, template: template, thought: false)[0].suffix(room))
            pairs.append(TokenizedPair(prompt: prompt, chosen: chosen, rejected: rejected))
            records.append(PairRecord(promptId: "\(m.promptId)/judge", prompt: m.judgePrompt, chosen: m.judgments[c], rejected: m.judgments[r],
                                      promptIds: prompt, chosenIds: chosen, rejectedIds: rejected))
        }
        return (pairs, records)
    }
}
