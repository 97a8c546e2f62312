import Alignment
import Foundation
import Kernels

/// Builds the round's preference pairs into `pairs.jsonl`: each prompt's judged samples become candidates,
/// the pair kind (`PairSelection`) picks preferences, LIFT adds length-instructed pairs, a filter
/// (`PairFilter`) keeps some, the meta-judge's judge pairs join when the round's judge meta-judged, and
/// the reference log-probs are computed once (sharded).
struct PairsPhase: Phase {
    let config: PairsConfig

    func run(_ ctx: RunContext, _ at: PhaseStep) throws {
        let c = config
        let gens = try at.folder.read(.generations)
        var judged: [SampleKey: JudgmentRecord] = [:]
        for j in try at.folder.read(.judgments) { judged[SampleKey(j)] = j }
        let problems = try ctx.problemsById(at.folder)
        let grouped = gens.byPrompt()
        let candidates = grouped.map { _, items in
            items.map { r -> Candidate in
                let j = judged[SampleKey(r)]
                return Candidate(sampleIndex: r.sampleIndex, text: r.text, score: j?.score, correct: j?.score.map { $0 > 0 }, votes: j?.votes,
                                 length: r.tokenIds.count, parseable: j?.judged ?? true)
            }
        }
        let selected = c.selection.select(candidates, stream: RandomStream(key: ctx.config.seed, UInt64(at.round)))
        var pairs: [TokenizedPair] = [], records: [PairRecord] = [], facts: [PairFacts] = []
        let eos = ctx.task.eos, maxPositions = ctx.policy.config.maxPositions
        for (g, (id, items)) in grouped.enumerated() {
            guard let p = problems[id] else { continue }
            let prompt = ctx.task.promptIds(p)
            for pref in selected[g] {
                let cg = items[pref.chosen], rg = items[pref.rejected]
                let cIds = cg.tokenIds + (cg.finishReason == "stop" ? [eos] : [])
                let rIds = rg.tokenIds + (rg.finishReason == "stop" ? [eos] : [])
                guard !cIds.isEmpty, !rIds.isEmpty else { continue }
                // A prompt that does not fit with its completions keeps its last tokens, as generation does.
                let room = maxPositions - max(cIds.count, rIds.count)
                guard room > 0 else { continue }
                func fitted(_ ids: [Int32]) -> [Int32] { ids.count > room ? Array(ids.suffix(room)) : ids }
                let prompt = fitted(prompt)
                pairs.append(TokenizedPair(prompt: prompt, chosen: cIds, rejected: rIds, weight: pref.weight))
                facts.append(PairFacts(chosenScore: candidates[g][pref.chosen].score ?? 0, rejectedScore: candidates[g][pref.rejected].score ?? 0,
                                       rejectedLength: rg.tokenIds.count))
                records.append(PairRecord(promptId: id, prompt: ctx.task.promptText(p), chosen: cg.text, rejected: rg.text, weight: pref.weight,
                                          promptIds: prompt, chosenIds: cIds, rejectedIds: rIds))
                for a in c.lift?.augment(instruction: p.question, chosen: cg.text, rejected: rg.text) ?? [] {
                    var wrapped = p
                    wrapped.question = a.prompt
                    let wp = fitted(ctx.task.promptIds(wrapped))
                    let (wc, wr) = a.chosen == cg.text ? (cIds, rIds) : (rIds, cIds)
                    pairs.append(TokenizedPair(prompt: wp, chosen: wc, rejected: wr, weight: pref.weight))
                    records.append(PairRecord(promptId: id, prompt: ctx.task.promptText(wrapped), chosen: a.chosen, rejected: a.rejected,
                                              weight: pref.weight, promptIds: wp, chosenIds: wc, rejectedIds: wr))
                }
            }
        }
        var counts = c.selection.metrics(candidates, selected)
        if let filter = c.filter {
            let kept = filter.keep(facts)
            counts["pairs_before_filter"] = pairs.count
            counts["\(type(of: filter).name)_kept"] = kept.count
            ctx.logger.info("pairs: \(type(of: filter).name) keeps \(kept.count) of \(pairs.count) pairs")
            pairs = kept.map { pairs[$0] }; records = kept.map { records[$0] }
        }
        if metaJudged(ctx, round: at.round) {
            let judgePairs = MetaJudgePhase.judgePairs(ctx, try at.folder.read(.metaJudgments))
            counts["judge_pairs"] = judgePairs.records.count
            if !judgePairs.records.isEmpty { ctx.logger.info("pairs: \(judgePairs.records.count) judge pairs join the actor pairs") }
            pairs += judgePairs.pairs; records += judgePairs.records
        }
        let journal = at.folder.journal(.partialPairs, key: at.key)
        if !pairs.isEmpty {
            switch c.reference {
            case .initial: try ctx.withStartModel { try ctx.cluster.fillReference(&pairs, model: ctx.policy, journal: journal) }
            case .roundStart: try ctx.cluster.fillReference(&pairs, model: ctx.policy, journal: journal)
            }
        }
        for k in records.indices { records[k].refChosenLogps = pairs[k].refChosen; records[k].refRejectedLogps = pairs[k].refRejected }
        try at.folder.write(records, as: .pairs)
        journal.remove()
        try ctx.metrics(at.folder).append(["phase": "pairs", "pairs": records.count, "prompts_with_pairs": Set(records.compactMap(\.promptId)).count]
                                          .merging(counts) { a, _ in a })
    }

    /// Whether the round's judge meta-judged (its judge pairs then join the actor pairs).
    func metaJudged(_ ctx: RunContext, round: Int) -> Bool {
        ctx.phases(of: round).contains { if case .judge(let j) = $0 { return j.metaJudge } else { return false } }
    }
}
