import Testing
import Foundation
import Alignment
import Pipeline
import TestSupport

/// Meta-Rewarding through the scheduler on a tiny model that judges and meta-judges.
@Suite(.serialized) struct MetaRewardingRecipeTests {
    /// A `micro` model that follows "Q: ...\nA: N" with "\nScore: S" (S random in 1-5), and the tail of the
    /// meta-judge prompt with a random "Winner: Judgement A" or "B".
    static func metaJudgingModel() throws -> String {
        try RecipeTests.microModel("meta", steps: 600) {
            var rng = TestRNG(13)
            var task = ArithmeticTask()
            task.maxOperands = 3; task.maxValue = 20
            let tail = String(MetaJudge.defaultTemplate.suffix(80))
            return task.problems(0..<900, split: .train).map { p in
                let answer = rng.int(2) == 0 ? p.answer : String(rng.int(40))
                return "Q: \(p.question)\nA: \(answer)\nScore: \(1 + rng.int(5))\n\n\(tail)\nWinner: Judgement \(rng.int(2) == 0 ? "A" : "B")\n\n"
            }.joined()
        }
    }

    /// One round: for each question the meta-judged response is the one whose parsed scores vary most; its
    /// battles are its meta-judgments as parsed; the position weights, win matrix and Elo ratings are
    /// recomputed from the round's battles; each judge pair (highest against lowest Elo) is in pairs.jsonl
    /// beside the length-controlled actor pairs, with its judge prompt. A 2-rank run writes the same files.
    @Test func metaJudgeRanksJudgmentsAndAddsJudgePairs() throws {
        let model = try Self.metaJudgingModel()
        let rubric = try RecipeTests.rubric("meta-rubric.txt")
        let out = RecipeTests.freshDirectory("meta-rewarding-run")
        let args = ["run", RecipeTests.config("meta-rewarding"),
                    "model.path=\(model)", "data.template=qa", "data.eval_size=10",
                    "evaluation.max_new_tokens=8", "evaluation.win_rate_count=6", "evaluation.win_rate_max_new_tokens=8", "schedule.rounds.count=1",
                    "schedule.rounds.phases.0.generate.questions=10", "schedule.rounds.phases.0.generate.samples=3",
                    "schedule.rounds.phases.0.generate.max_new_tokens=2",
                    "schedule.rounds.phases.1.judge.rubric=\(rubric.path)", "schedule.rounds.phases.1.judge.judgments=4",
                    "schedule.rounds.phases.1.judge.mode=generate", "schedule.rounds.phases.1.judge.reasoning=false", "evaluation.judge_mode=generate",
                    "schedule.rounds.phases.1.judge.max_new_tokens=24", "schedule.rounds.phases.3.train.lr=0.0001"]
        let r = try autodidact(args + ["run.output_dir=\(out.path)"])
        #expect(r.status == 0, "\(r.stderr)")
        let round = out.appendingPathComponent("round-01")
        let gens = try RecipeTests.records(GenerationRecord.self, round, "generations.jsonl")
        let judgments = try RecipeTests.records(JudgmentRecord.self, round, "judgments.jsonl")
        let meta = try RecipeTests.records(MetaJudgmentRecord.self, round, "meta_judgments.jsonl")
        #expect(gens.count == 30 && judgments.count == 30)
        // The most disputed response of each question.
        var expected: [(id: String, sample: Int, texts: [String])] = []
        for q in stride(from: 0, to: 30, by: 3) {
            var best: (v: Double, sample: Int, texts: [String])?
            for j in judgments[q..<(q + 3)] {
                let parsed = zip(j.judgeTexts!, j.judgeScores!).filter { $0.1 != nil }
                guard parsed.count >= 2 else { continue }
                let s = parsed.map { $0.1! }, mean = s.reduce(0, +) / Double(s.count)
                let v = s.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(s.count)
                if v > 0 && v > (best?.v ?? 0) { best = (v, j.sampleIndex, parsed.map(\.0)) }
            }
            if let b = best { expected.append((judgments[q].promptId, b.sample, b.texts)) }
        }
        #expect(expected.count >= 5)
        #expect(meta.map(\.promptId) == expected.map(\.id) && meta.map(\.sampleIndex) == expected.map(\.sample))
        #expect(meta.map(\.judgments) == expected.map(\.texts))
        var allBattles: [MetaJudge.Battle] = []
        for m in meta {
            let k = m.judgments.count
            #expect(m.battles.count == k * (k - 1) / 2 && m.metaTexts.count == 2 * m.battles.count)
            for (b, battle) in m.battles.enumerated() {
                #expect(battle.forward == MetaJudge.winner(m.metaTexts[2 * b]) && battle.backward == MetaJudge.winner(m.metaTexts[2 * b + 1]))
            }
            allBattles += m.battles
        }
        let outcomes = allBattles.flatMap { [$0.forward, $0.backward] }.compactMap { $0 }
        #expect(outcomes.count > allBattles.count, "the meta-judgments should mostly parse")
        let a = Double(outcomes.filter { $0 == "A" }.count), b = Double(outcomes.filter { $0 == "B" }.count)
        let pairs = try RecipeTests.records(PairRecord.self, round, "pairs.jsonl")
        var judgePairs = 0
        for m in meta {
            let wins = MetaJudge.winMatrix(m.battles, players: m.judgments.count, weights: (b / (a + b), a / (a + b)))
            let elo = MetaJudge.elo(MetaJudge.strengths(wins, l2: 0.01))
            for (x, y) in zip(elo, m.elo) { #expect(abs(x - y) < 1e-9) }
            guard let c = m.chosen, let rj = m.rejected else { continue }
            #expect(m.elo[c] == m.elo.max() && m.elo[rj] == m.elo.min() && m.elo[c] > m.elo[rj])
            let pair = try #require(pairs.first { $0.promptId == "\(m.promptId)/judge" })
            #expect(pair.prompt == m.judgePrompt && pair.chosen == m.judgments[c] && pair.rejected == m.judgments[rj])
            #expect(m.judgePrompt.hasPrefix("Q: ") && m.judgePrompt.hasSuffix(gens.first { $0.promptId == m.promptId && $0.sampleIndex == m.sampleIndex }!.text))
            judgePairs += 1
        }
        #expect(judgePairs > 0 && pairs.count > judgePairs, "judge pairs and actor pairs train together")
        let metrics = try String(contentsOf: round.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(metrics.contains("\"judge_pairs\":\(judgePairs)"))
        #expect(FileManager.default.fileExists(atPath: round.appendingPathComponent("model/model.safetensors").path))
        // Under mpirun -np 2 (at 2 threads a rank, beside busy processes) the judgments and meta-judgments are
        // sharded over both ranks and come back identical.
        let out2 = RecipeTests.freshDirectory("meta-rewarding-np2")
        let r2 = try withCPUHogs { try RecipeTests.mpirun(args + ["run.output_dir=\(out2.path)"], threads: 2) }
        #expect(r2.status == 0, "\(r2.stderr)")
        for file in ["judgments.jsonl", "meta_judgments.jsonl", "pairs.jsonl", "win_rate_judgments.jsonl"] {
            let d = fileDifference(round.appendingPathComponent(file).path, out2.appendingPathComponent("round-01/\(file)").path)
            #expect(d == nil, "\(file): \(d ?? "")")
        }
    }
}
