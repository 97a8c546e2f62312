import Testing
import Foundation
import Alignment
import Pipeline
import TestSupport

/// The LLM-as-judge recipes run through the scheduler on tiny models.
@Suite(.serialized) struct RecipeTests {
    static let dir = Paths.temporaryDirectory("recipes")

    /// A `micro` model that has learnt to follow the task's "Q: ...\nA: N" with "\nScore: S" (S random in
    /// 1-5), so that its judgments parse and, sampled, disagree. Its answers are two tokens long, so that
    /// the judge prompt ends where the corpus has the score.
    static func judgingModel() throws -> String {
        let path = dir.appendingPathComponent("judge-model").path
        if FileManager.default.fileExists(atPath: path + "/config.json") { return path }
        var rng = TestRNG(3)
        var text = ""
        var task = ArithmeticTask()
        task.maxOperands = 3; task.maxValue = 20  // as configs/self-rewarding.yaml
        for p in task.problems(0..<800, split: .train) {
            text += "Q: \(p.question)\nA: \(rng.int(2) == 0 ? p.answer : String(rng.int(40)))\nScore: \(1 + rng.int(5))\n\n"
        }
        let corpus = dir.appendingPathComponent("judge-corpus.txt")
        try text.write(to: corpus, atomically: true, encoding: .utf8)
        let r = try autodidact(["pretrain", "--shape", "micro", "--steps", "400", "--batch", "8", "--seq", "96", "--lr", "0.003",
                                "--text", corpus.path, "--output", path])
        guard r.status == 0 else { throw NSError(domain: "pretrain", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: r.stderr]) }
        return path
    }

    /// Self-Rewarding's round: the policy judges its own samples (3 judgments each, averaged over the ones
    /// that parse), best vs worst with ties dropped, DPO. Every judgment record is checked against its
    /// texts, and every pair against the scores.
    @Test func selfRewardingJudgesItsOwnSamplesAndPairsBestAgainstWorst() throws {
        let model = try RecipeTests.judgingModel()
        let rubric = RecipeTests.dir.appendingPathComponent("rubric.txt")
        try "Q: {instruction}\nA: {response}".write(to: rubric, atomically: true, encoding: .utf8)
        let out = RecipeTests.dir.appendingPathComponent("self-rewarding-run")
        try? FileManager.default.removeItem(at: out)
        let r = try autodidact(["run", Paths.repo.appendingPathComponent("configs/self-rewarding.yaml").path,
                                "model.path=\(model)", "run.output_dir=\(out.path)", "data.template=qa", "data.eval_size=10",
                                "evaluation.max_new_tokens=8", "schedule.rounds.count=1",
                                "schedule.rounds.phases.0.generate.questions=12", "schedule.rounds.phases.0.generate.max_new_tokens=2",
                                "schedule.rounds.phases.1.judge.rubric=\(rubric.path)", "schedule.rounds.phases.1.judge.max_new_tokens=12",
                                "schedule.rounds.phases.3.train.lr=0.0001"])
        #expect(r.status == 0, "\(r.stderr)")
        let round = out.appendingPathComponent("round-01")
        let gens = try RecordFile.read(GenerationRecord.self, from: round.appendingPathComponent("generations.jsonl").path)
        let judgments = try RecordFile.read(JudgmentRecord.self, from: round.appendingPathComponent("judgments.jsonl").path)
        #expect(gens.count == 48 && judgments.count == 48)
        var scores: [String: Double] = [:]
        var parsed = 0
        for j in judgments {
            let texts = try #require(j.judgeTexts), each = try #require(j.judgeScores)
            #expect(texts.count == 3 && each == texts.map { JudgeParsing.score($0) })
            let ok = each.compactMap { $0 }
            parsed += ok.count
            #expect(j.score == (ok.isEmpty ? nil : ok.reduce(0, +) / Double(ok.count)))
            if let s = j.score { scores["\(j.promptId)#\(j.sampleIndex)"] = s }
        }
        #expect(parsed > 100, "the judging model's scores should mostly parse")
        let pairs = try RecordFile.read(PairRecord.self, from: round.appendingPathComponent("pairs.jsonl").path)
        #expect(!pairs.isEmpty)
        // Each pair is its prompt's highest-scored sample against its lowest, strictly better.
        var byPrompt: [String: [(text: String, score: Double)]] = [:]
        for g in gens { if let s = scores["\(g.promptId)#\(g.sampleIndex)"] { byPrompt[g.promptId, default: []].append((g.text, s)) } }
        for p in pairs {
            let samples = try #require(byPrompt[p.promptId ?? ""])
            let best = samples.map(\.score).max()!, worst = samples.map(\.score).min()!
            #expect(best > worst)
            #expect(samples.contains { $0.text == p.chosen && $0.score == best })
            #expect(samples.contains { $0.text == p.rejected && $0.score == worst })
        }
        let tied = byPrompt.filter { $0.value.count > 0 && Set($0.value.map(\.score)).count == 1 }.count
        #expect(pairs.count == byPrompt.count - tied)
        #expect(FileManager.default.fileExists(atPath: round.appendingPathComponent("model/model.safetensors").path))
        #expect(FileManager.default.fileExists(atPath: round.appendingPathComponent("evaluation.json").path))
        let metrics = try String(contentsOf: round.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(metrics.contains("\"unparsed_judgments\""))
    }

    /// A `micro` model that follows the pairwise judge prompt with a random "[[A]]" or "[[B]]".
    static func verdictModel() throws -> String {
        let path = dir.appendingPathComponent("verdict-model").path
        if FileManager.default.fileExists(atPath: path + "/config.json") { return path }
        var rng = TestRNG(5)
        let t = JudgeTemplates()
        var text = ""
        for p in ArithmeticJudgePairs.make(count: 300, seed: 9) {
            // Only the prompt's tail: the context is 128 bytes, and generation keeps the prompt's last ones.
            text += String(t.fillPairwise(instruction: p.prompt, a: p.chosen, b: p.rejected).suffix(90)) + "\n" + (rng.int(2) == 0 ? "[[A]]" : "[[B]]") + "\n\n"
        }
        let corpus = dir.appendingPathComponent("verdict-corpus.txt")
        try text.write(to: corpus, atomically: true, encoding: .utf8)
        let r = try autodidact(["pretrain", "--shape", "micro", "--steps", "300", "--batch", "8", "--seq", "96", "--lr", "0.003",
                                "--text", corpus.path, "--output", path])
        guard r.status == 0 else { throw NSError(domain: "pretrain", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: r.stderr]) }
        return path
    }

    /// Self-Taught Evaluator's round: each labelled pair judged in both orders with sampled verdicts, a
    /// verdict kept as chosen only when it names the known-better response (rejection sampling), DPO of
    /// agreeing against disagreeing verdicts, judge accuracy on held-out pairs. Each judgment is checked
    /// against its verdict and the order it was asked in.
    @Test func selfTaughtEvaluatorKeepsVerdictsThatAgreeWithTheLabel() throws {
        let model = try RecipeTests.verdictModel()
        let out = RecipeTests.dir.appendingPathComponent("ste-run")
        try? FileManager.default.removeItem(at: out)
        let r = try autodidact(["run", Paths.repo.appendingPathComponent("configs/self-taught-evaluator.yaml").path,
                                "model.path=\(model)", "run.output_dir=\(out.path)", "data.template=qa", "data.eval_size=10",
                                "data.pairs_file=\(Paths.repo.appendingPathComponent("data/judge-pairs.jsonl").path)",
                                "evaluation.max_new_tokens=8", "schedule.rounds.count=1",
                                "schedule.rounds.phases.0.generate.questions=16", "schedule.rounds.phases.0.generate.max_new_tokens=8",
                                "schedule.rounds.phases.3.train.lr=0.0001"])
        #expect(r.status == 0, "\(r.stderr)")
        let round = out.appendingPathComponent("round-01")
        let gens = try RecordFile.read(GenerationRecord.self, from: round.appendingPathComponent("generations.jsonl").path)
        let judgments = try RecordFile.read(JudgmentRecord.self, from: round.appendingPathComponent("judgments.jsonl").path)
        #expect(gens.count == 16 * 8 && judgments.count == gens.count)
        // Questions come in pairs of orders: the better response first ("/AB": the right verdict is A), then second.
        #expect(Set(gens.map(\.promptId)).count == 16 && gens.allSatisfy { $0.promptId.hasSuffix("/AB") || $0.promptId.hasSuffix("/BA") })
        var agreeing = 0
        var textOf: [String: String] = [:]
        for (g, j) in zip(gens, judgments) {
            #expect(g.promptId == j.promptId && g.sampleIndex == j.sampleIndex)
            let right = g.promptId.hasSuffix("/AB") ? "A" : "B"
            let verdict = JudgeParsing.verdict(g.text)
            #expect(j.score == (verdict == right ? 1 : 0) && j.parsed == (verdict != nil))
            if verdict == right { agreeing += 1 }
            textOf[g.promptId + "#" + g.text] = right
        }
        #expect(agreeing > 0 && agreeing < gens.count, "sampled verdicts should both agree and disagree")
        let pairs = try RecordFile.read(PairRecord.self, from: round.appendingPathComponent("pairs.jsonl").path)
        #expect(!pairs.isEmpty)
        for p in pairs {
            let right = try #require(textOf[(p.promptId ?? "") + "#" + (p.chosen ?? "")])
            #expect(JudgeParsing.verdict(p.chosen ?? "") == right)
            #expect(JudgeParsing.verdict(p.rejected ?? "") != right)
        }
        let evaluation = try loadJSON(round.appendingPathComponent("evaluation.json")) as! [String: Any]
        #expect((evaluation["correct"] as! [Bool]).count == 20)
        // Judge pairs have no worked solutions: an SFT phase or a control arm is refused.
        let bad = try autodidact(["validate", Paths.repo.appendingPathComponent("configs/self-taught-evaluator.yaml").path,
                                  "model.path=\(model)", "schedule.control.enabled=true"])
        #expect(bad.status != 0 && bad.stderr.contains("judge_pairs has none"), "\(bad.stderr)")
    }
}
