import Testing
import Foundation
import Alignment
import Pipeline
import TestSupport

/// The promotion gate (`schedule.promotion`) and several seeds (`run --seeds N`), on a tiny model that is
/// right on some of the task's problems (the distillation tests' teacher), through configs/irpo-smollm2.yaml
/// and configs/rft-smollm2.yaml with small sizes.
@Suite(.serialized) struct PromotionTests {
    static func args(_ config: String, _ out: URL, rounds: Int = 2) throws -> [String] {
        let train = config == "rft-smollm2" ? 2 : 3
        return ["run", RecipeTests.config(config), "model.path=\(try DistillRecipeTests.teacherModel())", "data.template=qa",
         "data.train_size=200", "data.validation_size=40", "data.eval_size=20", "evaluation.max_new_tokens=40",
         "schedule.rounds.count=\(rounds)", "schedule.rounds.phases.0.generate.questions=12", "schedule.rounds.phases.0.generate.samples=4",
         "schedule.rounds.phases.0.generate.max_new_tokens=40", "schedule.rounds.phases.0.generate.stop=\n\n",
         "schedule.rounds.phases.\(train).train.lr=0.001", "run.output_dir=\(out.path)"]
    }

    /// The training questions the configs' task puts in rounds (2-3 operands up to 10), by index.
    static func trainQuestions(_ range: Range<Int>) -> [Problem] {
        var task = ArithmeticTask()
        task.maxOperands = 3; task.maxValue = 10
        return task.problems(range, split: .train)
    }

    struct Decision: Decodable {
        var round: Int, n: Int, p: Double, promoted: Bool, current: String
        var current_correct: Int, candidate_correct: Int, only_current: Int, only_candidate: Int
    }
    struct Evaluation: Decodable { var label: String; var correct: [Bool] }

    static func read<T: Decodable>(_ type: T.Type, _ url: URL) throws -> T { try JSONDecoder().decode(T.self, from: Data(contentsOf: url)) }

    /// Exact two-sided McNemar p, written out here from the binomial: 2 P(X <= min(b, c)), X ~ Bin(b + c, 1/2).
    static func mcnemar(_ b: Int, _ c: Int) -> Double {
        let n = b + c
        guard n > 0 else { return 1 }
        var term = pow(0.5, Double(n)), total = 0.0
        for i in 0...min(b, c) {
            if i > 0 { term *= Double(n - i + 1) / Double(i) }
            total += term
        }
        return min(1, 2 * total)
    }

    /// Each round's decision recomputed from the two dev evaluation files it names.
    static func checkDecision(_ out: URL, round: Int, against currentFolder: String, rule: String, alpha: Double) throws -> Decision {
        let d = try read(Decision.self, out.appendingPathComponent(String(format: "round-%02d/promotion.json", round)))
        let current = try read(Evaluation.self, out.appendingPathComponent("\(currentFolder)/dev_evaluation.json"))
        let candidate = try read(Evaluation.self, out.appendingPathComponent(String(format: "round-%02d/dev_evaluation.json", round)))
        #expect(current.correct.count == 40 && candidate.correct.count == 40)
        let b = zip(current.correct, candidate.correct).filter { $0 && !$1 }.count
        let c = zip(current.correct, candidate.correct).filter { !$0 && $1 }.count
        let before = current.correct.filter { $0 }.count, after = candidate.correct.filter { $0 }.count
        #expect(d.only_current == b && d.only_candidate == c && d.current_correct == before && d.candidate_correct == after)
        #expect(abs(d.p - mcnemar(b, c)) < 1e-12)
        let significant = mcnemar(b, c) < alpha
        #expect(d.promoted == (rule == "better" ? significant && after > before : !(significant && after < before)))
        return d
    }

    /// Scripted dev results through both rules: 40 problems, the current model right on the first 20.
    @Test func theRulesDecideOnExactMcNemar() {
        let current = EvaluationResult(label: "start", correct: (0..<40).map { $0 < 20 }, lengths: [])
        func candidate(_ right: (Int) -> Bool) -> EvaluationResult { EvaluationResult(label: "round 1", correct: (0..<40).map(right), lengths: []) }
        let worse = candidate { $0 < 10 }                 // b = 10, c = 0: p = 2 / 2^10
        let better = candidate { $0 < 30 }                // b = 0, c = 10
        let level = candidate { $0 < 19 || $0 == 20 || $0 == 21 || $0 == 22 }  // b = 1, c = 3: p = 0.625
        let notWorse = PromotionGate(config: PromotionConfig(rule: .notWorse, alpha: 0.05))
        let strict = PromotionGate(config: PromotionConfig(rule: .better, alpha: 0.05))
        let w = notWorse.decide(round: 1, current: current, candidate: worse)
        #expect(!w.promoted && w.onlyCurrent == 10 && w.onlyCandidate == 0 && abs(w.p - 2.0 / 1024) < 1e-12)
        #expect(!strict.decide(round: 1, current: current, candidate: worse).promoted)
        #expect(notWorse.decide(round: 1, current: current, candidate: better).promoted)
        #expect(strict.decide(round: 1, current: current, candidate: better).promoted)
        let l = notWorse.decide(round: 1, current: current, candidate: level)
        #expect(l.promoted && l.onlyCurrent == 1 && l.onlyCandidate == 3 && abs(l.p - 0.625) < 1e-12)
        #expect(!strict.decide(round: 1, current: current, candidate: level).promoted)
        // At alpha 0.001 the worse model is within the rule.
        #expect(PromotionGate(config: PromotionConfig(rule: .notWorse, alpha: 0.001)).decide(round: 1, current: current, candidate: worse).promoted)
    }

    /// `better` at a tiny alpha cannot be met on 40 dev problems: both rounds are dropped, the run ends on its
    /// starting model, and round 2 starts from it: its samples are what the starting model writes on its own
    /// for round 2 (`autodidact generate` with the run's seed and round). With `not_worse` at the same alpha
    /// both rounds are promoted and round 2 samples from round 1's model.
    @Test func aDroppedRoundsModelIsNotUsedNext() throws {
        let dropped = RecipeTests.freshDirectory("promotion-dropped"), kept = RecipeTests.freshDirectory("promotion-kept")
        let r = try autodidact(try Self.args("irpo-smollm2", dropped) + ["schedule.promotion.rule=better", "schedule.promotion.alpha=0.000001"])
        #expect(r.status == 0, "\(r.stderr)")
        let r2 = try autodidact(try Self.args("irpo-smollm2", kept) + ["schedule.promotion.alpha=0.000001"])
        #expect(r2.status == 0, "\(r2.stderr)")
        for round in 1...2 {
            let d = try Self.checkDecision(dropped, round: round, against: "initial", rule: "better", alpha: 1e-6)
            #expect(!d.promoted && d.current == "start")
            let k = try Self.checkDecision(kept, round: round, against: round == 1 ? "initial" : "round-01", rule: "not_worse", alpha: 1e-6)
            #expect(k.promoted)
        }
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: dropped.appendingPathComponent("state.json"))) as! [String: Any]
        #expect(state["promotions"] as? [String: Bool] == ["1": false, "2": false])
        #expect(state["model"] == nil, "the run ends on its starting model")
        let keptState = try JSONSerialization.jsonObject(with: Data(contentsOf: kept.appendingPathComponent("state.json"))) as! [String: Any]
        #expect(keptState["model"] as? String == "round-02/model")
        let summary = try String(contentsOf: dropped.appendingPathComponent("summary.md"), encoding: .utf8)
        #expect(summary.contains("| round 2 (not promoted) |") && summary.contains("round 1: not promoted"), "\(summary)")

        // Round 2's samples against the starting model's own, for the same questions, seed and round.
        let questions = Self.trainQuestions(12..<24)
        let startTexts = try DistillRecipeTests.samplesAlone(try DistillRecipeTests.teacherModel(), questions, name: "promotion",
                                                             temperature: 0.8, maxNewTokens: 40, round: 2)
        let droppedTexts = try RecipeTests.records(GenerationRecord.self, dropped.appendingPathComponent("round-02"), "generations.jsonl").map(\.text)
        let keptTexts = try RecipeTests.records(GenerationRecord.self, kept.appendingPathComponent("round-02"), "generations.jsonl").map(\.text)
        #expect(droppedTexts == startTexts)
        #expect(keptTexts != startTexts, "round 1's promoted model should sample differently")
    }

    /// Killed right after round 1's decision is recorded and resumed, the run keeps the decision and ends with
    /// the same files as an uninterrupted run.
    @Test func aResumedRunKeepsTheDecision() throws {
        let whole = RecipeTests.freshDirectory("promotion-dropped-whole"), killed = RecipeTests.freshDirectory("promotion-dropped-killed")
        let extra = ["schedule.promotion.rule=better", "schedule.promotion.alpha=0.000001"]
        #expect(try autodidact(try Self.args("irpo-smollm2", whole) + extra).status == 0)
        let k = try autodidact(try Self.args("irpo-smollm2", killed) + extra, environment: ["AUTODIDACT_KILL_AT": "round-1-promotion/done"])
        #expect(k.status != 0)
        #expect(FileManager.default.fileExists(atPath: killed.appendingPathComponent("round-01/promotion.json").path))
        #expect(!FileManager.default.fileExists(atPath: killed.appendingPathComponent("round-02").path))
        let r = try autodidact(try Self.args("irpo-smollm2", killed) + extra + ["--resume"])
        #expect(r.status == 0, "\(r.stderr)")
        for file in ["round-01/promotion.json", "round-02/promotion.json", "round-02/generations.jsonl", "round-02/pairs.jsonl",
                     "round-02/model/model.safetensors", "round-02/dev_evaluation.json", "round-02/evaluation.json"] {
            let d = fileDifference(whole.appendingPathComponent(file).path, killed.appendingPathComponent(file).path)
            #expect(d == nil, "\(file): \(d ?? "")")
        }
        // summary.md the same but for its last column, the phases' wall seconds, which load moves.
        let summaries = try [whole, killed].map { try Self.withoutSeconds(String(contentsOf: $0.appendingPathComponent("summary.md"), encoding: .utf8)) }
        #expect(summaries[0] == summaries[1])
        #expect(summaries[0].contains("round 1 (not promoted)") && summaries[0].contains("- round 1: not promoted"))
    }

    /// summary.md with the last cell of each table row (phase seconds) emptied.
    static func withoutSeconds(_ summary: String) -> String {
        summary.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            guard line.hasPrefix("|"), let cut = line.dropLast().lastIndex(of: "|") else { return String(line) }
            return String(line[...cut])
        }.joined(separator: "\n")
    }

    /// `--seeds 2` on the RFT config: one complete run per seed in `seed-S`, each round's SFT examples exactly
    /// the distinct correct samples, and a table whose figures are those of each folder's evaluation records.
    /// RFT's `train.match_tokens`: each seed's round trains on the tokens of the IRPO run of the same seed
    /// in that round, exceeding them by less than one example; without that run, an error naming the key
    /// and the file.
    @Test func seedsRunOneFolderEachAndATableAcrossThem() throws {
        let irpo = RecipeTests.freshDirectory("irpo-seeds")
        let i = try autodidact(try Self.args("irpo-smollm2", irpo, rounds: 1) + ["--seeds", "2", "run.seed=5"])
        #expect(i.status == 0, "\(i.stderr)")
        let out = RecipeTests.freshDirectory("rft-seeds")
        let match = ["schedule.rounds.phases.2.train.match_tokens=\(irpo.path)/seed-{seed}"]
        let missing = try autodidact(try Self.args("rft-smollm2", out, rounds: 1) + ["schedule.rounds.phases.2.train.match_tokens=\(irpo.path)/seed-9"])
        #expect(missing.status != 0 && missing.stderr.contains("train.match_tokens: \(irpo.path)/seed-9/state.json does not exist"), "\(missing.stderr)")
        try FileManager.default.removeItem(at: out)
        let r = try autodidact(try Self.args("rft-smollm2", out, rounds: 1) + match + ["--seeds", "2", "run.seed=5"])
        #expect(r.status == 0, "\(r.stderr)")
        for seed in [5, 6] {
            func roundTokens(_ dir: URL) throws -> Double {
                let state = try Self.read(RunState.self, dir.appendingPathComponent("seed-\(seed)/state.json"))
                return state.trainingTokens.filter { $0.key.hasPrefix("round-1-") }.values.reduce(0, +)
            }
            let budget = try roundTokens(irpo), trained = try roundTokens(out)
            // A qa-format example here is a question of about 30 tokens and an answer of at most 40 (and end).
            #expect(budget > 500 && trained >= budget && trained < budget + 100, "seed \(seed): RFT \(trained) tokens, IRPO \(budget)")
            let metrics = try String(contentsOf: out.appendingPathComponent("seed-\(seed)/round-01/metrics.jsonl"), encoding: .utf8)
            #expect(metrics.contains("\"matched_tokens\":\(Int(budget))"), "\(metrics)")
        }
        let table = try String(contentsOf: out.appendingPathComponent("seeds.md"), encoding: .utf8)
        var texts: [[String]] = []
        for seed in [5, 6] {
            let dir = out.appendingPathComponent("seed-\(seed)")
            let config = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("config.yaml"))) as! [String: Any]
            #expect((config["run"] as? [String: Any])?["seed"] as? Int == seed)
            // Rejection sampling: the distinct outputs with the right final answer.
            let round = dir.appendingPathComponent("round-01")
            let gens = try RecipeTests.records(GenerationRecord.self, round, "generations.jsonl")
            texts.append(gens.map(\.text))
            let problems = Dictionary(uniqueKeysWithValues: Self.trainQuestions(0..<12).map { ($0.id, $0) })
            let correct = Set(gens.filter { VerifiableJudge.isCorrect($0.text, reference: problems[$0.promptId]!.answer) }.map { $0.promptId + "\u{0}" + $0.text })
            let metrics = try String(contentsOf: round.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            #expect(metrics.contains("\"examples\":\(correct.count),"), "\(metrics)")
            // The table's cells, recomputed from the evaluation records.
            for folder in ["initial", "round-01"] {
                let e = try Self.read(Evaluation.self, dir.appendingPathComponent("\(folder)/evaluation.json"))
                let k = e.correct.filter { $0 }.count, n = e.correct.count
                let ci = Statistics.wilson(successes: k, trials: n)
                var cell = String(format: "%.1f%% (%.1f%%-%.1f%%)", 100 * Double(k) / Double(n), 100 * ci.low, 100 * ci.high)
                if folder != "initial" {
                    let start = try Self.read(Evaluation.self, dir.appendingPathComponent("initial/evaluation.json"))
                    let b = zip(start.correct, e.correct).filter { $0 && !$1 }.count, c = zip(start.correct, e.correct).filter { !$0 && $1 }.count
                    cell += String(format: ", p = %.2g", Self.mcnemar(b, c))
                }
                #expect(table.contains(cell), "\(cell) not in\n\(table)")
            }
        }
        #expect(texts[0] != texts[1], "the seeds should sample differently")
        // `compare`: per seed, the two final models on the same problems, recomputed from the records.
        let compared = try autodidact(["compare", irpo.path, out.path])
        #expect(compared.status == 0, "\(compared.stderr)")
        #expect(compared.stdout.contains("A = irpo-seeds: final model") && compared.stdout.contains("B = rft-seeds: final model"), "\(compared.stdout)")
        for seed in [5, 6] {
            func finalCorrect(_ dir: URL) throws -> (String, [Bool]) {
                let round = dir.appendingPathComponent("seed-\(seed)/round-01")
                let promoted = try Self.read(Decision.self, round.appendingPathComponent("promotion.json")).promoted
                let folder = promoted ? round : dir.appendingPathComponent("seed-\(seed)/initial")
                return (promoted ? "round 1" : "start", try Self.read(Evaluation.self, folder.appendingPathComponent("evaluation.json")).correct)
            }
            let (la, a) = try finalCorrect(irpo), (lb, b) = try finalCorrect(out)
            let onlyA = zip(a, b).filter { $0 && !$1 }.count, onlyB = zip(a, b).filter { !$0 && $1 }.count
            let row = String(format: " | %d / %d | %.2g |", onlyA, onlyB, Self.mcnemar(onlyA, onlyB))
            #expect(compared.stdout.contains("| \(seed) | \(la): ") && compared.stdout.contains(row), "seed \(seed), \(lb): \(row) not in\n\(compared.stdout)")
        }
        // Run again with --resume: every seed has finished, and the table is the same.
        let again = try autodidact(try Self.args("rft-smollm2", out, rounds: 1) + match + ["--seeds", "2", "run.seed=5", "--resume"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try String(contentsOf: out.appendingPathComponent("seeds.md"), encoding: .utf8) == table)
    }

    /// `judge.require_stop`: a sample the token limit cut is judged `unfinished` with score 0 even when its
    /// answer is right, so IRPO never chooses it and RFT never keeps it; the other samples are judged as
    /// without the option.
    @Test func requireStopJudgesCutSamplesUnfinished() throws {
        let problems = Dictionary(uniqueKeysWithValues: Self.trainQuestions(0..<24).map { ($0.id, $0) })
        let irpo = RecipeTests.freshDirectory("require-stop-irpo-smollm2")
        for config in ["irpo-smollm2", "rft-smollm2"] {
            let out = config == "irpo-smollm2" ? irpo : RecipeTests.freshDirectory("require-stop-\(config)")
            // 24 questions, 8 samples each, up to 24 tokens: the limit cuts some samples after a right answer.
            var extra = ["schedule.rounds.phases.0.generate.questions=24", "schedule.rounds.phases.0.generate.samples=8",
                         "schedule.rounds.phases.0.generate.max_new_tokens=24", "schedule.rounds.phases.1.judge.require_stop=true"]
            if config == "rft-smollm2" { extra.append("schedule.rounds.phases.2.train.match_tokens=\(irpo.path)") }
            let r = try autodidact(try Self.args(config, out, rounds: 1) + extra)
            #expect(r.status == 0, "\(r.stderr)")
            let round = out.appendingPathComponent("round-01")
            let gens = try RecipeTests.records(GenerationRecord.self, round, "generations.jsonl")
            let judged = Dictionary(uniqueKeysWithValues: try RecipeTests.records(JudgmentRecord.self, round, "judgments.jsonl")
                .map { ("\($0.promptId)/\($0.sampleIndex)", $0) })
            var cutButRight = 0, kept = Set<String>()
            for g in gens {
                let j = try #require(judged["\(g.promptId)/\(g.sampleIndex)"])
                let right = VerifiableJudge.isCorrect(g.text, reference: problems[g.promptId]!.answer)
                if g.finishReason == "length" {
                    #expect(j.verdict == "unfinished" && j.score == 0, "\(g.text)")
                    if right { cutButRight += 1 }
                } else {
                    #expect(j.verdict == (right ? "correct" : "incorrect") && j.score == (right ? 1 : 0), "\(g.text)")
                    if right { kept.insert(g.promptId + "\u{0}" + g.text) }
                }
            }
            // The limit cuts some samples whose answer is right: the option changes what trains.
            #expect(cutButRight > 0 && !kept.isEmpty, "\(config): \(cutButRight) cut but right, \(kept.count) kept")
            let metrics = try String(contentsOf: round.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            #expect(metrics.contains("\"unfinished\":\(gens.filter { $0.finishReason == "length" }.count)"), "\(metrics)")
            if config == "rft-smollm2" {
                #expect(metrics.contains("\"examples\":\(kept.count),"), "\(metrics)")
            } else {
                let finished = Dictionary(gens.map { ($0.text, $0.finishReason) }, uniquingKeysWith: { a, b in a == b ? a : nil })
                let pairs = try RecipeTests.records(PairRecord.self, round, "pairs.jsonl")
                #expect(!pairs.isEmpty)
                for p in pairs { #expect(finished[p.chosen ?? ""] == "stop", "chosen \(p.chosen ?? "")") }
            }
        }
    }

    /// The table's p-value against the start names the start's row: "SFT" after an SFT phase, else "start".
    @Test func theTableNamesTheRowItComparesWith() {
        for name in ["start", "SFT"] {
            var report = RoundReport()
            let start = EvaluationResult(label: name, correct: [true, false, false, false, false, false, false, false, false, false], lengths: Array(repeating: 5, count: 10))
            let round = EvaluationResult(label: "round 1", correct: Array(repeating: true, count: 10), lengths: Array(repeating: 3, count: 10))
            report.start = start
            report.rows = [.init(label: name, result: start), .init(label: "round 1", result: round, pairs: 4)]
            let lines = report.table().split(separator: "\n")
            #expect(lines[0] == "| model | accuracy (95% CI) | p vs previous | p vs \(name) | pairs | mean length (sd) | phase seconds |")
            // 9 discordant problems, all for round 1: exact McNemar p = 2 / 2^9.
            #expect(lines[3].hasPrefix("| round 1 | 100.0% (72.2-100.0) | 0.0039 | 0.0039 | 4 |"), "\(lines[3])")
        }
    }
}
