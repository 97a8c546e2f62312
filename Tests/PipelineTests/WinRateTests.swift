import Testing
import Foundation
import Alignment
import Pipeline
import TestSupport

/// Judged evaluations: win rates of each evaluation's model over the previous one, and judge accuracy.
@Suite(.serialized) struct WinRateTests {
    @Test func bootstrapIntervalAndCounts() {
        #expect(Statistics.bootstrapMean([1, 1, 1], seed: 1) == (1, 1))
        let values = (0..<200).map { Double($0 % 4 == 0 ? 1 : 0) }  // mean 0.25, standard error 0.031
        let ci = Statistics.bootstrapMean(values, seed: 7)
        #expect(ci.low < 0.25 && ci.high > 0.25 && ci.low > 0.16 && ci.high < 0.34)
        let w = WinRate(against: "start", outcomes: [1, 0, 0.5, nil, 1], seed: 0)
        #expect(w.wins == 2 && w.losses == 1 && w.ties == 1 && w.unparsed == 1 && w.rate == 0.625)
        #expect(WinRate(against: "x", outcomes: [nil], seed: 0).rate == nil)
    }

    /// A round of the Self-Taught Evaluator with win rates on 12 held-out seed instructions under a 2-word
    /// limit: each outcome is recomputed from the two rounds' answers and the judge's two verdicts; and judge
    /// accuracy on 6 labelled pairs at both evaluations, recomputed from the verdicts.
    @Test func eachRoundIsJudgedAgainstThePreviousEvaluation() throws {
        let model = try RecipeTests.verdictModel()
        let out = RecipeTests.freshDirectory("win-rate-run")
        let seeds = Paths.repo.appendingPathComponent("data/seed-instructions.jsonl").path
        let args = ["run", RecipeTests.config("self-taught-evaluator"),
                                "model.path=\(model)", "data.template=qa", "data.eval_size=4",
                                "data.pairs_file=\(Paths.repo.appendingPathComponent("data/judge-pairs.jsonl").path)",
                                "evaluation.max_new_tokens=8", "evaluation.win_rate_prompts=\(seeds)", "evaluation.win_rate_count=12",
                                "evaluation.win_rate_max_new_tokens=8", "evaluation.length_limit=2", "evaluation.win_rate_judge=\(model)",
                                "evaluation.judge_accuracy_pairs=\(Paths.repo.appendingPathComponent("data/judge-pairs.jsonl").path)",
                                "evaluation.judge_accuracy_count=6", "evaluation.judge_accuracy_max_new_tokens=8", "evaluation.judge_mode=generate",
                                "schedule.rounds.count=1",
                                "schedule.rounds.phases.0.synthesize.modified_instructions=2", "schedule.rounds.phases.1.generate.source=task",
                                "schedule.rounds.phases.1.generate.questions=8", "schedule.rounds.phases.1.generate.max_new_tokens=8",
                                "schedule.rounds.phases.4.train.lr=0.001"]
        let r = try autodidact(args + ["run.output_dir=\(out.path)"])
        #expect(r.status == 0, "\(r.stderr)")
        let prompts = try RecordFile.read(PromptRecord.self, from: seeds).suffix(12)
        let before = try RecipeTests.records(GenerationRecord.self, out, "initial/win_rate_responses.jsonl")
        let after = try RecipeTests.records(GenerationRecord.self, out, "round-01/win_rate_responses.jsonl")
        #expect(before.map(\.promptId) == prompts.map(\.id) && after.map(\.promptId) == prompts.map(\.id))
        let judgments = try RecipeTests.jsonLines(out.appendingPathComponent("round-01/win_rate_judgments.jsonl"))
        var verdicts: [String: [String]] = [:]
        for j in judgments { verdicts[j["prompt_id"] as! String] = j["raw"] as? [String] }
        let evaluation = try loadJSON(out.appendingPathComponent("round-01/evaluation.json")) as! [String: Any]
        let win = evaluation["winRate"] as! [String: Any]
        #expect(win["against"] as? String == "start")
        let outcomes = win["outcomes"] as! [Any]
        var judgedCount = 0
        for (k, (new, old)) in zip(after, before).enumerated() {
            let newOK = LengthInstructions.complies(new.text, limit: 2), oldOK = LengthInstructions.complies(old.text, limit: 2)
            let expected: Double?
            if !newOK || !oldOK {
                expected = newOK ? 1 : oldOK ? 0 : 0.5
                #expect(verdicts[new.promptId] == nil)
            } else {
                judgedCount += 1
                let raw = try #require(verdicts[new.promptId])
                let (f, b) = (JudgeParsing.verdict(raw[0]), JudgeParsing.verdict(raw[1]))  // this round's answer shown as A, then as B
                expected = f == nil || b == nil ? nil : f == "A" && b == "B" ? 1 : f == "B" && b == "A" ? 0 : 0.5
            }
            #expect((outcomes[k] as? Double) == expected, "prompt \(k)")
        }
        #expect(judgedCount > 0 && judgedCount == judgments.count)
        let summary = try String(contentsOf: out.appendingPathComponent("summary.md"), encoding: .utf8)
        #expect(summary.contains("judged win rate") && summary.contains("judge accuracy"))
        // Judge accuracy at both evaluations: the policy's verdicts on the last 6 labelled pairs, both orders.
        let labelled = try ArithmeticJudgePairs.read(Paths.repo.appendingPathComponent("data/judge-pairs.jsonl").path).suffix(6)
        for folder in ["initial", "round-01"] {
            let lines = try RecipeTests.jsonLines(out.appendingPathComponent("\(folder)/judge_accuracy.jsonl"))
            #expect(lines.map { $0["id"] as! String } == labelled.map(\.id))
            var both = 0, single = 0
            for line in lines {
                let raw = line["raw"] as! [String]
                let (f, b) = (JudgeParsing.verdict(raw[0]), JudgeParsing.verdict(raw[1]))  // better response shown as A, then as B
                if f == "A" && b == "B" { both += 1 }
                single += (f == "A" ? 1 : 0) + (b == "B" ? 1 : 0)
            }
            let accuracy = (try loadJSON(out.appendingPathComponent("\(folder)/evaluation.json")) as! [String: Any])["judgeAccuracy"] as! [String: Any]
            #expect(accuracy["pairs"] as? Int == 6 && accuracy["correct"] as? Int == both && accuracy["singleCorrect"] as? Int == single, "\(folder)")
        }
        // Stopped on request in the round's evaluation while its judging passes run (after the win-rate
        // responses' first chunk): saved in evaluation_judging.partial/, and --resume ends with the same bytes.
        try RecipeTests.stopAndResume(args, name: "win-rate-signalled", at: "round-1-5-evaluate/call-0001/chunk-000000",
                                      partial: "round-01/evaluation_judging.partial", expected: ["call-0000", "call-0001"], whole: out)
    }
}
