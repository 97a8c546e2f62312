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
        try microModel("judge", steps: 400) {
            var rng = TestRNG(3)
            var task = ArithmeticTask()
            task.maxOperands = 3; task.maxValue = 20  // as configs/self-rewarding.yaml
            return task.problems(0..<800, split: .train).map { p in
                "Q: \(p.question)\nA: \(rng.int(2) == 0 ? p.answer : String(rng.int(40)))\nScore: \(1 + rng.int(5))\n\n"
            }.joined()
        }
    }

    /// The path of `configs/<name>.yaml`.
    /// `mpirun -np 2 autodidact ARGS` with `threads` per rank.
    /// `signalAt`: rank 0 sends itself SIGTERM at that point of the work (AUTODIDACT_SIGNAL_AT).
    static func mpirun(_ args: [String], threads: Int, signalAt: String? = nil) throws -> RunResult {
        var env = MPITests.env.merging(["AUTODIDACT_THREADS": "\(threads)"]) { $1 }, exported = ["-x", "AUTODIDACT_THREADS"]
        if let signalAt { env["AUTODIDACT_SIGNAL_AT"] = signalAt; exported += ["-x", "AUTODIDACT_SIGNAL_AT"] }
        return try run(["mpirun", "--oversubscribe", "-np", "2"] + exported + [Paths.executable.path] + args, environment: env)
    }

    /// Runs `args` on one process into a fresh folder `name` with SIGTERM sent at `point`: the run must stop
    /// with status 75 leaving `expected` (sorted names) in `partial` of the run folder; then `--resume` must end
    /// with the bytes of the uninterrupted run in `whole`.
    static func stopAndResume(_ args: [String], name: String, at point: String, partial: String, expected: [String], whole: URL) throws {
        let stopped = freshDirectory(name)
        let s = try autodidact(args + ["run.output_dir=\(stopped.path)"], environment: ["AUTODIDACT_SIGNAL_AT": point])
        #expect(s.status == 75, "\(point): \(s.stderr)")
        let saved = try FileManager.default.contentsOfDirectory(atPath: stopped.appendingPathComponent(partial).path)
        #expect(saved.sorted() == expected, "\(point): \(saved)")
        let resumed = try autodidact(args + ["run.output_dir=\(stopped.path)", "--resume"])
        #expect(resumed.status == 0, "\(point): \(resumed.stderr)")
        let differences = treeDifferences(whole.path, stopped.path, ignoring: ResumeTests.notCompared)
        #expect(differences.isEmpty, "\(point): \(differences)")
    }

    static func config(_ name: String) -> String { Paths.repo.appendingPathComponent("configs/\(name).yaml").path }

    /// `dir/<name>`, removed if it exists (a run directory to write into).
    static func freshDirectory(_ name: String) -> URL {
        let url = dir.appendingPathComponent(name)
        try? FileManager.default.removeItem(at: url)
        return url
    }

    /// A judge rubric file in `dir` (by default the task's "Q: ...\nA: ..." format, which the test models follow with a score).
    static func rubric(_ name: String, _ text: String = "Q: {instruction}\nA: {response}") throws -> URL {
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// The lines of a JSON Lines file as dictionaries.
    /// The records of `file` in the run folder `folder` (a round's or the run's).
    static func records<T: Decodable>(_ type: T.Type, _ folder: URL, _ file: String) throws -> [T] {
        try RecordFile.read(type, from: folder.appendingPathComponent(file).path)
    }

    static func jsonLines(_ url: URL) throws -> [[String: Any]] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    /// A model of `shape` (`micro` unless given) pretrained on `corpus()` in windows of `sequence` bytes
    /// into `dir/<name>-model` (once per directory).
    static func microModel(_ name: String, steps: Int, shape: String = "micro", sequence: Int = 96, corpus: () -> String) throws -> String {
        let path = dir.appendingPathComponent("\(name)-model").path
        if FileManager.default.fileExists(atPath: path + "/config.json") { return path }
        let file = dir.appendingPathComponent("\(name)-corpus.txt")
        try corpus().write(to: file, atomically: true, encoding: .utf8)
        let r = try autodidact(["pretrain", "--shape", shape, "--steps", "\(steps)", "--batch", "8", "--seq", "\(sequence)", "--lr", "0.003",
                                "--text", file.path, "--output", path])
        guard r.status == 0 else { throw NSError(domain: "pretrain", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: r.stderr]) }
        return path
    }

    /// Self-Rewarding's round: the policy judges its own samples (3 judgments each, averaged over the ones
    /// that parse), best vs worst with ties dropped, DPO. Every judgment record is checked against its
    /// texts, and every pair against the scores.
    @Test func selfRewardingJudgesItsOwnSamplesAndPairsBestAgainstWorst() throws {
        let model = try RecipeTests.judgingModel()
        let rubric = try RecipeTests.rubric("rubric.txt")
        let out = RecipeTests.freshDirectory("self-rewarding-run")
        let args = ["run", RecipeTests.config("self-rewarding"),
                    "model.path=\(model)", "data.template=qa", "data.eval_size=10",
                    "evaluation.max_new_tokens=8", "schedule.rounds.count=1", "schedule.rounds.phases.0.synthesize.requests=4",
                    "schedule.rounds.phases.1.generate.source=task",
                    "schedule.rounds.phases.1.generate.questions=12", "schedule.rounds.phases.1.generate.max_new_tokens=2",
                    "schedule.rounds.phases.2.judge.rubric=\(rubric.path)", "schedule.rounds.phases.2.judge.max_new_tokens=12",
                    "schedule.rounds.phases.2.judge.mode=generate", "evaluation.judge_mode=generate",
                    "schedule.rounds.phases.4.train.lr=0.0001"]
        let r = try autodidact(args + ["run.output_dir=\(out.path)"])
        #expect(r.status == 0, "\(r.stderr)")
        let round = out.appendingPathComponent("round-01")
        let gens = try RecipeTests.records(GenerationRecord.self, round, "generations.jsonl")
        let judgments = try RecipeTests.records(JudgmentRecord.self, round, "judgments.jsonl")
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
        let pairs = try RecipeTests.records(PairRecord.self, round, "pairs.jsonl")
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
        // Under mpirun -np 2 the judgments are sharded over both ranks and come back identical.
        let out2 = RecipeTests.dir.appendingPathComponent("self-rewarding-np2")
        try? FileManager.default.removeItem(at: out2)
        let r2 = try withCPUHogs { try RecipeTests.mpirun(args + ["run.output_dir=\(out2.path)"], threads: 2) }
        #expect(r2.status == 0, "\(r2.stderr)")
        for file in ["generations.jsonl", "judgments.jsonl"] {
            let d = fileDifference(round.appendingPathComponent(file).path, out2.appendingPathComponent("round-01/\(file)").path)
            #expect(d == nil, "\(file): \(d ?? "")")
        }
        // Stopped on request while judging (after the judge's second chunk), at 1 and at 2 ranks: the chunks
        // so far are saved in judgments.partial/, and --resume ends with the uninterrupted run's bytes.
        let point = "round-1-2-judge/call-0000/chunk-000001"
        for (ranks, whole) in [(1, out), (2, out2)] {
            let stoppedDir = RecipeTests.dir.appendingPathComponent("self-rewarding-signalled-np\(ranks)")
            try? FileManager.default.removeItem(at: stoppedDir)
            let a = args + ["run.output_dir=\(stoppedDir.path)"]
            let stopped = ranks == 1 ? try autodidact(a, environment: ["AUTODIDACT_SIGNAL_AT": point])
                : try withCPUHogs { try RecipeTests.mpirun(a, threads: 2, signalAt: point) }
            #expect(stopped.status == 75, "\(ranks) rank(s): \(stopped.stderr)")
            let saved = try FileManager.default.contentsOfDirectory(atPath: stoppedDir.appendingPathComponent("round-01/judgments.partial/call-0000").path)
            #expect(saved.contains("chunk-000001.json"), "\(saved)")
            let resumed = ranks == 1 ? try autodidact(a + ["--resume"]) : try withCPUHogs { try RecipeTests.mpirun(a + ["--resume"], threads: 2) }
            #expect(resumed.status == 0, "\(resumed.stderr)")
            let differences = treeDifferences(whole.path, stoppedDir.path, ignoring: ResumeTests.notCompared)
            #expect(differences.isEmpty, "\(ranks) rank(s): \(differences)")
        }
    }

    /// A `micro` model that follows the pairwise judge prompt with a random "[[A]]" or "[[B]]".
    static func verdictModel() throws -> String {
        try microModel("verdict", steps: 300) {
            var rng = TestRNG(5)
            let t = JudgeTemplates()
            // Only the prompt's tail: the context is 128 bytes, and generation keeps the prompt's last ones.
            return ArithmeticJudgePairs.make(count: 300, seed: 9).map { p in
                String(t.fillPairwise(instruction: p.prompt, a: p.chosen, b: p.rejected).suffix(90)) + "\n" + (rng.int(2) == 0 ? "[[A]]" : "[[B]]") + "\n\n"
            }.joined()
        }
    }

    /// Self-Taught Evaluator's round: each labelled pair judged in both orders with sampled verdicts, a
    /// verdict kept as chosen only when it names the known-better response (rejection sampling), DPO of
    /// agreeing against disagreeing verdicts, judge accuracy on held-out pairs. Each judgment is checked
    /// against its verdict and the order it was asked in.
    @Test func selfTaughtEvaluatorKeepsVerdictsThatAgreeWithTheLabel() throws {
        let model = try RecipeTests.verdictModel()
        let out = RecipeTests.freshDirectory("ste-run")
        let r = try autodidact(["run", RecipeTests.config("self-taught-evaluator"),
                                "model.path=\(model)", "run.output_dir=\(out.path)", "data.template=qa", "data.eval_size=10",
                                "data.pairs_file=\(Paths.repo.appendingPathComponent("data/judge-pairs.jsonl").path)",
                                "evaluation.max_new_tokens=8", "schedule.rounds.count=1", "schedule.rounds.phases.0.synthesize.modified_instructions=2",
                                "schedule.rounds.phases.1.generate.source=task",
                                "schedule.rounds.phases.1.generate.questions=16", "schedule.rounds.phases.1.generate.max_new_tokens=8",
                                "schedule.rounds.phases.4.train.lr=0.0001"])
        #expect(r.status == 0, "\(r.stderr)")
        let round = out.appendingPathComponent("round-01")
        let gens = try RecipeTests.records(GenerationRecord.self, round, "generations.jsonl")
        let judgments = try RecipeTests.records(JudgmentRecord.self, round, "judgments.jsonl")
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
        let pairs = try RecipeTests.records(PairRecord.self, round, "pairs.jsonl")
        #expect(!pairs.isEmpty)
        for p in pairs {
            let right = try #require(textOf[(p.promptId ?? "") + "#" + (p.chosen ?? "")])
            #expect(JudgeParsing.verdict(p.chosen ?? "") == right)
            #expect(JudgeParsing.verdict(p.rejected ?? "") != right)
        }
        let evaluation = try loadJSON(round.appendingPathComponent("evaluation.json")) as! [String: Any]
        #expect((evaluation["correct"] as! [Bool]).count == 20)
        // Judge pairs have no worked solutions: an SFT phase or a control arm is refused.
        let bad = try autodidact(["validate", RecipeTests.config("self-taught-evaluator"),
                                  "model.path=\(model)", "schedule.control.enabled=true"])
        #expect(bad.status != 0 && bad.stderr.contains("judge_pairs has none"), "\(bad.stderr)")
    }

    /// numpy's default percentile (linear between closest ranks), written out here independently.
    static func percentile(_ v: [Double], _ q: Double) -> Double {
        let s = v.sorted(), pos = q / 100 * Double(s.count - 1)
        let lo = Int(pos), hi = min(lo + 1, s.count - 1)
        return s[lo] + (s[hi] - s[lo]) * (pos - Double(lo))
    }

    /// RIP: of the best-vs-worst pairs (judged by the policy), exactly those whose rejected score is at
    /// least the 50th percentile, rejected length at least the 50th and gap at most the 50th are kept.
    @Test func ripKeepsExactlyThePairsWithinThePercentileThresholds() throws {
        let model = try RecipeTests.judgingModel()
        let rubric = try RecipeTests.rubric("rubric.txt")
        let out = RecipeTests.freshDirectory("rip-run")
        let r = try autodidact(["run", RecipeTests.config("rip"),
                                "model.path=\(model)", "run.output_dir=\(out.path)", "data.template=qa", "data.eval_size=10",
                                "evaluation.max_new_tokens=8", "schedule.rounds.count=1", "schedule.rounds.phases.1.generate.questions=24",
                                "schedule.rounds.phases.1.generate.max_new_tokens=2",
                                "schedule.rounds.phases.2.judge.rubric=\(rubric.path)", "schedule.rounds.phases.2.judge.max_new_tokens=12",
                                "schedule.rounds.phases.4.train.lr=0.0001"])
        #expect(r.status == 0, "\(r.stderr)")
        let round = out.appendingPathComponent("round-01")
        let gens = try RecipeTests.records(GenerationRecord.self, round, "generations.jsonl")
        let judgments = try RecipeTests.records(JudgmentRecord.self, round, "judgments.jsonl")
        // Self-RIP's synthesis has no previous pairs in round 1, so the round asks the task's questions.
        #expect(try RecipeTests.records(PromptRecord.self, round, "questions.jsonl").isEmpty)
        #expect(gens.allSatisfy { $0.promptId.hasPrefix("train-") })
        var order: [String] = [], samples: [String: [(score: Double?, length: Int)]] = [:]
        for (g, j) in zip(gens, judgments) {
            if samples[g.promptId] == nil { order.append(g.promptId) }
            samples[g.promptId, default: []].append((j.score, g.tokenIds.count))
        }
        // Best = the first sample with the top score, worst = the first with the bottom score; ties dropped.
        var candidates: [(id: String, rejectedScore: Double, rejectedLength: Double, gap: Double)] = []
        for id in order {
            let scored = samples[id]!.filter { $0.score != nil }
            guard let top = scored.map({ $0.score! }).max(), let bottom = scored.map({ $0.score! }).min(), top > bottom else { continue }
            let worst = scored.first { $0.score! == bottom }!
            candidates.append((id, bottom, Double(worst.length), top - bottom))
        }
        #expect(candidates.count >= 4, "too few pairs to filter")
        let t1 = RecipeTests.percentile(candidates.map(\.rejectedScore), 50)
        let t2 = RecipeTests.percentile(candidates.map(\.rejectedLength), 50)
        let t3 = RecipeTests.percentile(candidates.map(\.gap), 50)
        let expected = candidates.filter { $0.rejectedScore >= t1 && $0.rejectedLength >= t2 && $0.gap <= t3 }.map(\.id)
        let pairs = try RecipeTests.records(PairRecord.self, round, "pairs.jsonl")
        #expect(pairs.map { $0.promptId ?? "" } == expected)
        #expect(expected.count < candidates.count, "the filter should drop some pairs")
        let metrics = try String(contentsOf: round.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(metrics.contains("\"pairs_before_filter\":\(candidates.count)"))
        // RIP needs scores: with a verifiable judge's correct-vs-incorrect pairs it is refused.
        let bad = try autodidact(["validate", RecipeTests.config("rip"), "model.path=\(model)",
                                  "schedule.rounds.phases.3.pairs.kind=correct_vs_incorrect"])
        #expect(bad.status != 0 && bad.stderr.contains("rip filters pairs by judge scores"), "\(bad.stderr)")
    }

    /// LIFT: every correct-vs-incorrect pair is followed by its two length-instructed pairs (limits and
    /// labels recomputed here from word counts), and the evaluation's length-limited pass is recorded.
    @Test func liftAddsLengthInstructedPairsAndScoresCompliance() throws {
        let model = try RecipeTests.judgingModel()  // its two-token answers are right about half the time
        let out = RecipeTests.freshDirectory("lift-run")
        let r = try autodidact(["run", RecipeTests.config("lift"),
                                "model.path=\(model)", "run.output_dir=\(out.path)", "data.template=qa", "data.eval_size=10",
                                "evaluation.max_new_tokens=8", "evaluation.length_limit=1", "schedule.rounds.phases.0.generate.questions=16",
                                "schedule.rounds.phases.0.generate.max_new_tokens=6", "schedule.rounds.phases.2.pairs.lift_min_difference=0",
                                "schedule.rounds.phases.3.train.lr=0.0001"])
        #expect(r.status == 0, "\(r.stderr)")
        let round = out.appendingPathComponent("round-01")
        let pairs = try RecipeTests.records(PairRecord.self, round, "pairs.jsonl")
        #expect(pairs.count >= 3 && pairs.count % 3 == 0, "\(pairs.count) pairs")
        func words(_ t: String) -> Int { t.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).count }
        for k in stride(from: 0, to: pairs.count, by: 3) {
            let base = pairs[k], loose = pairs[k + 1], tight = pairs[k + 2]
            let c = base.chosen!, rj = base.rejected!
            #expect(!base.prompt!.contains("words or less"))
            let (lc, lr) = (words(c), words(rj))
            #expect(loose.prompt!.contains("using \(max(lc, lr) + 5) words or less"))
            #expect(loose.chosen == c && loose.rejected == rj)
            #expect(tight.prompt!.contains("using \((lc + lr) / 2) words or less"))
            // Under the tight limit the shorter response is chosen (on a tie in length, the original chosen).
            let shorterFirst = lc < lr ? (c, rj) : (rj, c)
            #expect(tight.chosen == shorterFirst.0 && tight.rejected == shorterFirst.1)
            #expect(tight.promptIds != base.promptIds && tight.refChosenLogps != nil)
        }
        let evaluation = try loadJSON(round.appendingPathComponent("evaluation.json")) as! [String: Any]
        let within = evaluation["withinLimit"] as! [Bool], correct = evaluation["correct"] as! [Bool]
        let both = evaluation["correctWithinLimit"] as! [Bool]
        #expect(evaluation["lengthLimit"] as? Int == 1 && within.count == 10 && both.count == 10 && correct.count == 10)
        for (w, b) in zip(within, both) where b { #expect(w) }
        let metrics = try String(contentsOf: round.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(metrics.contains("\"length_compliance\"") && metrics.contains("\"accuracy_within_limit\""))
    }
}
