import Testing
import Foundation
import Alignment
import Pipeline
import TestSupport

/// Judges read from probabilities end to end: the verdicts against the `logprobs` command, the same
/// bytes on 1, 2 and 3 ranks, and a Self-Rewarding round with its judge audit, the gold-accuracy gate and
/// another model as judge.
@Suite(.serialized) struct LogprobJudgeRunTests {
    static let dir = Paths.temporaryDirectory("logprob-judge")

    /// Eight short labelled pairs and a judge prompt short enough for a `micro` model's context.
    static func pairsAndTemplate() throws -> (pairs: String, template: String) {
        let lines = (0..<8).map { i in
            "{\"id\": \"p\(i)\", \"prompt\": \"\(i)+\(i + 1)?\", \"chosen\": \"\(2 * i + 1)\", \"rejected\": \"\(2 * i + 3)\"}"
        }
        let pairs = try writeFile(lines.joined(separator: "\n") + "\n", in: dir, "pairs.jsonl")
        let template = try writeFile("Q {instruction} A {response_a} B {response_b} better ", in: dir, "template.txt")
        return (pairs, template)
    }

    @Test func pairwiseProbabilitiesAreThoseOfTheLogprobsCommand() throws {
        let model = try pretrainedMicroModel(in: LogprobJudgeRunTests.dir)
        let (pairs, template) = try LogprobJudgeRunTests.pairsAndTemplate()
        let out = LogprobJudgeRunTests.dir.appendingPathComponent("verdicts.jsonl")
        let r = try autodidact(["judge-accuracy", "--model", model, "--pairs", pairs, "--judge-template", template, "--tie-margin", "0",
                                "--output", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        let verdicts = try RecipeTests.jsonLines(out)
        let labelled = try ArithmeticJudgePairs.read(pairs)
        // Each candidate's full text ("...[[A" / "...[[B"), scored by the training forward: P(A) is the
        // softmax of the two sequences' last-token log-probs (byte tokens: "[[" is shared).
        let fill = try String(contentsOfFile: template, encoding: .utf8)
        var inputs: [String] = []
        for p in labelled {
            for (a, b) in [(p.chosen, p.rejected), (p.rejected, p.chosen)] {
                let prompt = fill.replacingOccurrences(of: "{instruction}", with: p.prompt).replacingOccurrences(of: "{response_a}", with: a)
                    .replacingOccurrences(of: "{response_b}", with: b)
                for c in ["A", "B"] { inputs.append("{\"text\": \(JSONLines.quote(prompt + "[[" + c))}") }
            }
        }
        let input = try writeFile(inputs.joined(separator: "\n") + "\n", in: LogprobJudgeRunTests.dir, "sequences.jsonl")
        let lp = try autodidact(["logprobs", "--model", model, "--input", input])
        #expect(lp.status == 0, "\(lp.stderr)")
        let last = lp.stdout.split(separator: "\n").map { line -> Double in
            let o = try! JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return (o["token_logprobs"] as! [Double]).last!
        }
        #expect(verdicts.count == 8 && last.count == 32)
        let report = try JSONSerialization.jsonObject(with: Data(r.stdout.split(separator: "\n").last!.utf8)) as! [String: Any]
        let favoured = verdicts.filter { ($0["p_first"] as! Double) > 0.5 }.count
        #expect(report["forced_choice_accuracy"] as? Double == Double(favoured) / 8 && report["pairs"] as? Int == 8)
        #expect(report["ties"] as? Int == 0 && report["accuracy"] as? Double == Double(favoured) / 8)
        for (k, v) in verdicts.enumerated() {
            func pA(_ i: Int) -> Double { 1 / (1 + exp(last[i + 1] - last[i])) }
            let forward = pA(4 * k), backward = pA(4 * k + 2)
            #expect(abs((v["forward_p_a"] as! Double) - forward) < 1e-5 && abs((v["backward_p_a"] as! Double) - backward) < 1e-5)
            let pFirst = (forward + 1 - backward) / 2
            #expect(abs((v["p_first"] as! Double) - pFirst) < 1e-5)
            #expect(v["verdict"] as! String == (pFirst > 0.5 ? "first" : "second"))
        }
    }

    @Test func verdictsAreByteIdenticalOnOneTwoAndThreeRanks() throws {
        let model = try pretrainedMicroModel(in: LogprobJudgeRunTests.dir)
        let (pairs, template) = try LogprobJudgeRunTests.pairsAndTemplate()
        var files: [Data] = []
        try withCPUHogs {
            for np in [1, 2, 3] {
                let out = LogprobJudgeRunTests.dir.appendingPathComponent("ranks-\(np).jsonl")
                let r = try run(["mpirun", "--oversubscribe", "-np", "\(np)", Paths.executable.path, "judge-accuracy", "--model", model,
                                 "--pairs", pairs, "--judge-template", template, "--batch-size", "2", "--output", out.path],
                                environment: MPITests.env)
                #expect(r.status == 0, "np \(np): \(r.stderr)")
                files.append(try Data(contentsOf: out))
            }
        }
        #expect(files[0].count > 500 && byteDifference(files[0], files[1]) == nil && byteDifference(files[0], files[2]) == nil)
        // The 16-wide prefill tile (where the CPU has AVX-512) and the 8-wide one give the same bits.
        let narrow = LogprobJudgeRunTests.dir.appendingPathComponent("narrow.jsonl")
        let r = try autodidact(["judge-accuracy", "--model", model, "--pairs", pairs, "--judge-template", template, "--output", narrow.path],
                               environment: ["AUTODIDACT_NO_AVX512": "1"])
        let narrowBytes = try Data(contentsOf: narrow)
        #expect(r.status == 0 && byteDifference(files[0], narrowBytes) == nil)
    }

    static func selfRewardingArguments(_ out: URL, minGold: Double, extra: [String] = []) throws -> [String] {
        let model = try RecipeTests.judgingModel()
        let rubric = try RecipeTests.rubric("rubric.txt")
        return ["run", RecipeTests.config("self-rewarding"), "model.path=\(model)", "data.template=qa", "data.eval_size=6",
                "evaluation.max_new_tokens=8", "evaluation.win_rate_count=4", "evaluation.win_rate_max_new_tokens=4", "evaluation.judge_accuracy_count=4",
                "schedule.rounds.count=1", "schedule.rounds.phases.0.synthesize.requests=4",
                "schedule.rounds.phases.1.generate.source=task", "schedule.rounds.phases.1.generate.questions=12",
                "schedule.rounds.phases.1.generate.max_new_tokens=2", "schedule.rounds.phases.2.judge.rubric=\(rubric.path)",
                "schedule.rounds.phases.2.judge.audit.gold_count=20", "schedule.rounds.phases.2.judge.audit.min_gold_accuracy=\(minGold)",
                "schedule.rounds.phases.4.train.lr=0.0001", "run.output_dir=\(out.path)"] + extra
    }

    /// Self-Rewarding judged from probabilities with an audit: a threshold the judge misses stops the round
    /// before its pairs; resumed with the threshold lowered, the round finishes. Every judgment and audit
    /// figure is recomputed from the records.
    @Test func auditGateStopsTheRoundAndResumeContinuesAndFiguresFollowFromRecords() throws {
        let out = RecipeTests.freshDirectory("logprob-self-rewarding")
        let stopped = try autodidact(try LogprobJudgeRunTests.selfRewardingArguments(out, minGold: 1))
        #expect(stopped.status != 0)
        #expect(stopped.stderr.contains("round 1: the judge's gold accuracy is") && stopped.stderr.contains("min_gold_accuracy 1.0"), "\(stopped.stderr)")
        let round = out.appendingPathComponent("round-01")
        #expect(FileManager.default.fileExists(atPath: round.appendingPathComponent("judge_audit.json").path))
        #expect(!FileManager.default.fileExists(atPath: round.appendingPathComponent("pairs.jsonl").path))
        let resumed = try autodidact(try LogprobJudgeRunTests.selfRewardingArguments(out, minGold: 0) + ["--resume", "--force"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try RecipeTests.records(PairRecord.self, round, "pairs.jsonl").count > 0)
        let summary = try String(contentsOf: out.appendingPathComponent("summary.md"), encoding: .utf8)
        #expect(summary.contains("- round 1 judge audit (logprob): gold accuracy"))

        let gens = try RecipeTests.records(GenerationRecord.self, round, "generations.jsonl")
        let judgments = try RecipeTests.records(JudgmentRecord.self, round, "judgments.jsonl")
        #expect(judgments.count == gens.count && judgments.allSatisfy { $0.parsed && $0.judgeTexts == nil })
        for j in judgments {
            let d = j.distributions![0]
            #expect(d.count == 6 && abs(d.reduce(0, +) - 1) < 1e-12)
            #expect(abs(j.score! - d.enumerated().reduce(0) { $0 + Double($1.offset) * $1.element }) < 1e-12)
            #expect(abs(j.entropy! - -d.reduce(0) { $0 + ($1 > 0 ? $1 * log($1) : 0) }) < 1e-12)
            #expect(j.mostLikely![0] == Double(d.indices.max { d[$0] < d[$1] }!))
        }
        let audit = try loadJSON(round.appendingPathComponent("judge_audit.json")) as! [String: Any]
        let gold = audit["gold"] as! [[String: Any]]
        let correct = gold.filter { ($0["chosen_score"] as! Double) > ($0["rejected_score"] as! Double) }.count
        #expect(gold.count == 20 && audit["gold_correct"] as! Int == correct && audit["gold_pairs"] as! Int == 20)
        #expect(abs(audit["gold_accuracy"] as! Double - Double(correct) / 20) < 1e-12)
        let ci = Statistics.wilson(successes: correct, trials: 20)
        let interval = audit["gold_ci95"] as! [Double]
        #expect(abs(interval[0] - ci.low) < 1e-12 && abs(interval[1] - ci.high) < 1e-12)
        #expect(audit["gold_ties"] as! Int == gold.filter { ($0["chosen_score"] as! Double) == ($0["rejected_score"] as! Double) }.count)
        let entropy = judgments.map { $0.entropy! }.reduce(0, +) / Double(judgments.count)
        #expect(abs(audit["mean_entropy"] as! Double - entropy) < 1e-12)
        let rho = LogprobJudgeRunTests.spearman(judgments.map { $0.score! }, gens.map { Double($0.text.split(whereSeparator: \.isWhitespace).count) })
        #expect(abs((audit["score_length_spearman"] as? Double ?? .nan) - rho) < 1e-12 || (rho.isNaN && audit["score_length_spearman"] == nil))
        #expect(audit["cut_reasonings"] as! Int == 0 && audit["position_flip_rate"] == nil)
    }

    /// The same round with the judge given as `judge.model` (the same file as the policy) on two ranks:
    /// the judge is borrowed on every rank and the policy put back, and the judgments and audit are the
    /// bytes of the one-rank run above.
    @Test func anotherModelAsJudgeOnTwoRanksGivesTheSameRecords() throws {
        let reference = RecipeTests.dir.appendingPathComponent("logprob-self-rewarding/round-01")
        if !FileManager.default.fileExists(atPath: reference.appendingPathComponent("pairs.jsonl").path) {
            try auditGateStopsTheRoundAndResumeContinuesAndFiguresFollowFromRecords()
        }
        let out = RecipeTests.freshDirectory("logprob-judge-model")
        let args = try LogprobJudgeRunTests.selfRewardingArguments(out, minGold: 0, extra: ["schedule.rounds.phases.2.judge.model=\(try RecipeTests.judgingModel())"])
        let r = try run(["mpirun", "--oversubscribe", "-np", "2", Paths.executable.path] + args, environment: MPITests.env)
        #expect(r.status == 0, "\(r.stderr)")
        let round = out.appendingPathComponent("round-01")
        for file in ["judgments.jsonl", "judge_audit.json", "pairs.jsonl"] {
            #expect(fileDifference(round.appendingPathComponent(file).path, reference.appendingPathComponent(file).path) == nil, "\(file)")
        }
    }

    /// The Self-Taught Evaluator with forced verdicts, on a model that never writes one: every output ends
    /// in [[A]] or [[B]] after what it wrote, every judgment parses, and pairs are built; without forcing,
    /// no output has a verdict. The evaluation reads its verdicts from probabilities.
    @Test func forcedVerdictsGiveEveryJudgmentOfTheSelfTaughtEvaluatorAVerdict() throws {
        let model = try pretrainedMicroModel(in: LogprobJudgeRunTests.dir)
        func args(_ out: URL, forced: Bool) -> [String] {
            ["run", RecipeTests.config("self-taught-evaluator"), "model.path=\(model)", "run.output_dir=\(out.path)", "data.template=qa",
             "data.eval_size=4", "data.pairs_file=\(Paths.repo.appendingPathComponent("data/judge-pairs.jsonl").path)",
             "evaluation.max_new_tokens=8", "evaluation.judge_accuracy_count=4", "schedule.rounds.count=1",
             "schedule.rounds.phases.0.synthesize.modified_instructions=2", "schedule.rounds.phases.1.generate.source=task",
             "schedule.rounds.phases.1.generate.questions=8", "schedule.rounds.phases.1.generate.samples=4",
             "schedule.rounds.phases.1.generate.max_new_tokens=6", "schedule.rounds.phases.1.generate.forced_verdict=\(forced)",
             "schedule.rounds.phases.4.train.lr=0.0001"]
        }
        let out = RecipeTests.freshDirectory("ste-forced")
        let r = try autodidact(args(out, forced: true))
        #expect(r.status == 0, "\(r.stderr)")
        let round = out.appendingPathComponent("round-01")
        let gens = try RecipeTests.records(GenerationRecord.self, round, "generations.jsonl")
        #expect(gens.count == 32 && gens.allSatisfy { ($0.text.hasSuffix("[[A]]") || $0.text.hasSuffix("[[B]]")) && $0.finishReason == "stop" })
        #expect(gens.allSatisfy { $0.text.components(separatedBy: "[[").count == 2 })
        let judgments = try RecipeTests.records(JudgmentRecord.self, round, "judgments.jsonl")
        #expect(judgments.count == 32 && judgments.allSatisfy(\.parsed))
        #expect(try RecipeTests.records(PairRecord.self, round, "pairs.jsonl").count > 0)
        // The evaluation's verdicts are read from the trained model's probabilities: P(A) of each question
        // is the softmax of the `logprobs` command's last-token log-probs of its prompt ("qa": the question
        // and a newline) followed by "[[A" and by "[[B"; the verdict is the likelier letter. The prompts are
        // longer than the model's 128 positions: both sequences keep their last 128 (byte) tokens.
        let answers = try RecipeTests.jsonLines(round.appendingPathComponent("evaluation.jsonl"))
        let inputs = answers.flatMap { a in
            ["A", "B"].map { "{\"ids\": \(Array((a["question"] as! String + "\n[[" + $0).utf8).suffix(128).map(Int.init))}" }
        }
        let input = try writeFile(inputs.joined(separator: "\n") + "\n", in: LogprobJudgeRunTests.dir, "ste-evaluation-sequences.jsonl")
        let lp = try autodidact(["logprobs", "--model", round.appendingPathComponent("model").path, "--input", input])
        #expect(lp.status == 0, "\(lp.stderr)")
        let last = lp.stdout.split(separator: "\n").map { line -> Double in
            let o = try! JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return (o["token_logprobs"] as! [Double]).last!
        }
        #expect(answers.count == 8 && last.count == 16)
        for (k, a) in answers.enumerated() {
            let pA = 1 / (1 + exp(last[2 * k + 1] - last[2 * k]))
            #expect(abs((a["p_a"] as! Double) - pA) < 1e-5)
            #expect(a["correct"] as! Bool == ((pA >= 0.5 ? "A" : "B") == a["gold"] as! String))
        }
        let evaluation = try JSONDecoder().decode(EvaluationResult.self, from: Data(contentsOf: round.appendingPathComponent("evaluation.json")))
        #expect(evaluation.correct == answers.map { $0["correct"] as! Bool })
        let plain = RecipeTests.freshDirectory("ste-unforced")
        let u = try autodidact(args(plain, forced: false))
        #expect(u.status == 0, "\(u.stderr)")
        #expect(try RecipeTests.records(JudgmentRecord.self, plain.appendingPathComponent("round-01"), "judgments.jsonl").allSatisfy { !$0.parsed })
    }

    /// Meta-Rewarding as configured: each judgment written first, its score read from probabilities, and
    /// the meta-judge's A against B read after a forced "Winner: Judgement ". Every judgment text ends in
    /// its most likely score, and every battle's letters are those its meta-texts record.
    @Test func metaRewardingWritesJudgmentsThenReadsScoresAndMetaVerdicts() throws {
        let model = try MetaRewardingRecipeTests.metaJudgingModel()
        let rubric = try RecipeTests.rubric("meta-rubric.txt")
        let out = RecipeTests.freshDirectory("meta-rewarding-logprob")
        let r = try autodidact(["run", RecipeTests.config("meta-rewarding"), "model.path=\(model)", "data.template=qa", "data.eval_size=6",
                                "evaluation.max_new_tokens=8", "evaluation.win_rate_count=4", "evaluation.win_rate_max_new_tokens=8",
                                "schedule.rounds.count=1", "schedule.rounds.phases.0.generate.questions=6", "schedule.rounds.phases.0.generate.samples=3",
                                "schedule.rounds.phases.0.generate.max_new_tokens=2", "schedule.rounds.phases.1.judge.rubric=\(rubric.path)",
                                "schedule.rounds.phases.1.judge.judgments=3", "schedule.rounds.phases.1.judge.max_new_tokens=16",
                                "schedule.rounds.phases.1.judge.audit.gold_count=6", "schedule.rounds.phases.3.train.lr=0.0001", "run.output_dir=\(out.path)"])
        #expect(r.status == 0, "\(r.stderr)")
        let round = out.appendingPathComponent("round-01")
        let judgments = try RecipeTests.records(JudgmentRecord.self, round, "judgments.jsonl")
        #expect(judgments.count == 18)
        for j in judgments {
            #expect(j.judgeTexts?.count == 3 && j.distributions?.count == 3)
            for (k, text) in (j.judgeTexts ?? []).enumerated() {
                let d = j.distributions![k]
                let best = d.indices.max { d[$0] < d[$1] }!
                #expect(text.hasSuffix("Score: \(best)") && j.mostLikely![k] == Double(best))
                #expect(abs(j.judgeScores![k]! - d.enumerated().reduce(0) { $0 + Double($1.offset) * $1.element }) < 1e-12)
            }
        }
        let meta = try RecipeTests.records(MetaJudgmentRecord.self, round, "meta_judgments.jsonl")
        #expect(!meta.isEmpty)
        for m in meta {
            for (b, battle) in m.battles.enumerated() {
                #expect(m.metaTexts[2 * b].hasPrefix("Winner: Judgement \(battle.forward!) (p = "))
                #expect(m.metaTexts[2 * b + 1].hasPrefix("Winner: Judgement \(battle.backward!) (p = "))
            }
        }
    }

    /// Spearman's rho with average ranks for ties (NaN when a list is constant), written here independently.
    static func spearman(_ x: [Double], _ y: [Double]) -> Double {
        func ranks(_ v: [Double]) -> [Double] {
            v.map { a in Double(v.filter { $0 < a }.count) + (Double(v.filter { $0 == a }.count) + 1) / 2 }
        }
        let rx = ranks(x), ry = ranks(y), n = Double(x.count)
        let mx = rx.reduce(0, +) / n, my = ry.reduce(0, +) / n
        let cov = zip(rx, ry).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) }
        let vx = rx.reduce(0) { $0 + ($1 - mx) * ($1 - mx) }, vy = ry.reduce(0) { $0 + ($1 - my) * ($1 - my) }
        return cov / (vx * vy).squareRoot()
    }
}
