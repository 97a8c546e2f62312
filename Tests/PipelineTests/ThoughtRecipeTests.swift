import Testing
import Foundation
import Alignment
import Generation
import Pipeline
import TestSupport

/// Thought Preference Optimization through the scheduler on a tiny model.
@Suite(.serialized) struct ThoughtRecipeTests {
    /// A `mini` model, trained on whole contexts (the thought prompt alone nearly fills one), that answers the thought prompt ("Q: <thought prompt>\nA: ") with
    /// "Here is my thought process: <1-6 words> Here is my response: N" (and in a quarter of cases leaves
    /// out the response marker), and that follows "Judge: ... => N" with "\nScore: S" as a judge.
    static func thinkingModel() throws -> String {
        try RecipeTests.microModel("thought", steps: 1500, shape: "mini", sequence: 256) {
            var rng = TestRNG(11)
            var task = ArithmeticTask()
            task.maxOperands = 3; task.maxValue = 20
            return task.problems(0..<900, split: .train).map { p in
                let answer = rng.int(2) == 0 ? p.answer : String(rng.int(40))
                if rng.int(2) == 0 { return "Judge: \(p.question) => \(answer)\nScore: \(1 + rng.int(5))\n\n" }
                let thought = (0...rng.int(6)).map { _ in ["add", "then", "carry", "so", "ok"][rng.int(5)] }.joined(separator: " ")
                let marker = rng.int(4) == 0 ? "" : "Here is my response: "
                return "Q: \(ThoughtPrompt.wrap(p.question))\nA: Here is my thought process: \(thought). \(marker)\(answer)\n\n"
            }.joined()
        }
    }

    /// One TPO round as the model writes it (`data.thought_tokens=0`): the judge is shown only each output's
    /// response part (outputs without one are not judged), and each pair is its prompt's highest against its
    /// lowest z(score) - rho z(length), recomputed here, or, in at most 10% of the pairs, the best output
    /// against an unparseable one.
    @Test func judgesSeeOnlyResponsesAndPairsFollowLengthControlledScores() throws {
        let model = try Self.thinkingModel()
        let rubric = try RecipeTests.rubric("thought-rubric.txt", "Judge: {instruction} => {response}")
        let out = RecipeTests.freshDirectory("tpo-run")
        let r = try autodidact(["run", RecipeTests.config("tpo"),
                                "model.path=\(model)", "run.output_dir=\(out.path)", "data.template=qa", "data.eval_size=10",
                                "data.thought_tokens=0", "evaluation.max_new_tokens=60", "schedule.rounds.count=1",
                                "schedule.rounds.phases.0.generate.questions=16", "schedule.rounds.phases.0.generate.max_new_tokens=90",
                                "schedule.rounds.phases.0.generate.stop=\n", "schedule.rounds.phases.0.generate.temperature=1.0",
                                "schedule.rounds.phases.1.judge.rubric=\(rubric.path)", "schedule.rounds.phases.1.judge.max_new_tokens=12",
                                "schedule.rounds.phases.1.judge.mode=generate", "evaluation.judge_mode=generate",
                                "schedule.rounds.phases.3.train.lr=0.0001"])
        #expect(r.status == 0, "\(r.stderr)")
        let round = out.appendingPathComponent("round-01")
        let gens = try RecipeTests.records(GenerationRecord.self, round, "generations.jsonl")
        let judgments = try RecipeTests.records(JudgmentRecord.self, round, "judgments.jsonl")
        #expect(gens.count == 16 * 8 && judgments.count == gens.count)
        var withoutResponse = 0
        var byPrompt: [String: [(text: String, score: Double?, length: Int, parseable: Bool)]] = [:]
        for (g, j) in zip(gens, judgments) {
            #expect(g.promptId == j.promptId && g.sampleIndex == j.sampleIndex)
            if let split = ThoughtPrompt.split(g.text) {
                #expect(j.judgedResponse == split.response && !split.response.contains("thought process"))
                #expect(j.judgeTexts?.count == 3)
            } else {
                withoutResponse += 1
                #expect(j.verdict == "no_response" && j.score == nil && j.judgeTexts == nil)
            }
            byPrompt[g.promptId, default: []].append((g.text, j.score, g.tokenIds.count, ThoughtPrompt.split(g.text) != nil))
        }
        #expect(withoutResponse > 0 && withoutResponse < gens.count / 2, "\(withoutResponse) outputs without a response part")
        #expect(judgments.filter { $0.score != nil }.count > gens.count / 2, "the judge's scores should mostly parse")
        // Every pair: chosen = highest s = z(score) - 0.5 z(length) among the prompt's scored outputs;
        // rejected = lowest s, or an output without a response part.
        let pairs = try RecipeTests.records(PairRecord.self, round, "pairs.jsonl")
        #expect(pairs.count >= 4)
        var unparsedRejected = 0
        for p in pairs {
            let outputs = try #require(byPrompt[p.promptId ?? ""])
            let scored = outputs.filter { $0.parseable && $0.score != nil }
            func z(_ x: [Double]) -> [Double] {
                let m = x.reduce(0, +) / Double(x.count), sd = (x.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(x.count)).squareRoot()
                return x.map { sd > 0 ? ($0 - m) / sd : 0 }
            }
            let zs = z(scored.map { $0.score! }), zl = z(scored.map { Double($0.length) })
            let s = zip(zs, zl).map { $0 - 0.5 * $1 }
            let top = s.max()!, bottom = s.min()!
            #expect(scored.indices.contains { scored[$0].text == p.chosen && abs(s[$0] - top) < 1e-9 }, "chosen is not the top output")
            if let unparsed = outputs.first(where: { !$0.parseable }), unparsed.text == p.rejected {
                unparsedRejected += 1
            } else {
                #expect(Set(scored.map { $0.score! }).count > 1)
                #expect(scored.indices.contains { scored[$0].text == p.rejected && abs(s[$0] - bottom) < 1e-9 }, "rejected is not the bottom output")
            }
            #expect(p.chosen!.contains(ThoughtPrompt.thoughtMarker), "pairs are whole outputs, thoughts included")
        }
        #expect(Double(unparsedRejected) <= 0.1 * Double(pairs.count))
        let metrics = try String(contentsOf: round.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(metrics.contains("\"outputs_without_response\":\(withoutResponse)") && metrics.contains("\"unparsed_rejected\":\(unparsedRejected)"))
        #expect(FileManager.default.fileExists(atPath: round.appendingPathComponent("model/model.safetensors").path))
        #expect(FileManager.default.fileExists(atPath: round.appendingPathComponent("evaluation.json").path))
    }
    /// With `data.thought_tokens` every output has a response part, and each is what the model samples
    /// alone: its thoughts through `autodidact generate` up to the response marker or the token limit (the
    /// run's seed and round), then, after those thoughts and the marker, its response (one sample per
    /// output, seed 0 XOR 0x7E5B). The evaluation's greedy answers have a response part too.
    @Test func forcedResponseMarkerGivesEveryOutputAResponse() throws {
        let model = try Self.thinkingModel()
        let rubric = try RecipeTests.rubric("thought-rubric.txt", "Judge: {instruction} => {response}")
        let out = RecipeTests.freshDirectory("tpo-forced-run")
        let r = try autodidact(["run", RecipeTests.config("tpo"),
                                "model.path=\(model)", "run.output_dir=\(out.path)", "data.template=qa", "data.eval_size=10",
                                "data.thought_tokens=40", "evaluation.max_new_tokens=60", "schedule.rounds.count=1",
                                "schedule.rounds.phases.0.generate.questions=16", "schedule.rounds.phases.0.generate.max_new_tokens=90",
                                "schedule.rounds.phases.0.generate.stop=\n", "schedule.rounds.phases.0.generate.temperature=1.0",
                                "schedule.rounds.phases.1.judge.rubric=\(rubric.path)",
                                "schedule.rounds.phases.3.train.lr=0.0001"])
        #expect(r.status == 0, "\(r.stderr)")
        let round = out.appendingPathComponent("round-01")
        let gens = try RecipeTests.records(GenerationRecord.self, round, "generations.jsonl")
        #expect(gens.count == 16 * 8)
        #expect(gens.allSatisfy { ThoughtPrompt.split($0.text) != nil }, "an output without a response part")
        var task = ArithmeticTask()
        task.maxOperands = 3; task.maxValue = 20
        let prompts = task.problems(0..<16, split: .train).map { "Q: \(ThoughtPrompt.wrap($0.question))\nA: " }
        func alone(_ name: String, _ prompts: [String], samples: Int, maxNewTokens: Int, stops: [String], seed: Int) throws -> [String] {
            let file = RecipeTests.dir.appendingPathComponent("\(name)-prompts.jsonl")
            try prompts.map { String(decoding: try JSONSerialization.data(withJSONObject: ["prompt": $0]), as: UTF8.self) }
                .joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
            let direct = RecipeTests.dir.appendingPathComponent("\(name)-direct.jsonl")
            let g = try autodidact(["generate", "--model", model, "--prompts", file.path, "--output", direct.path, "--samples", "\(samples)",
                                    "--temperature", "1.0", "--max-new-tokens", "\(maxNewTokens)", "--seed", "\(seed)", "--round", "1",
                                    "--template", "none", "--truncate-prompts"] + stops.flatMap { ["--stop", $0] })
            #expect(g.status == 0, "\(g.stderr)")
            return try RecipeTests.jsonLines(direct).map { $0["text"] as! String }
        }
        let thoughts = try alone("thoughts", prompts, samples: 8, maxNewTokens: 40, stops: ["\n", ThoughtPrompt.responseMarker], seed: 0)
        let prefixes = thoughts.map { $0 + ($0.isEmpty || $0.hasSuffix("\n") ? "" : "\n") + ThoughtPrompt.responseMarker }
        let responses = try alone("responses", prefixes.indices.map { prompts[$0 / 8] + prefixes[$0] }, samples: 1, maxNewTokens: 50,
                                  stops: ["\n"], seed: 0x7E5B)
        #expect(gens.map(\.text) == zip(prefixes, responses).map { $0 + $1 })
        // Both kinds of first pass occur: thoughts cut at the limit, and thoughts the model ended itself.
        let cut = thoughts.filter { $0.utf8.count >= 40 }.count
        #expect(cut > 0 && cut < thoughts.count, "\(cut) of \(thoughts.count) thoughts at the limit")
        let metrics = try String(contentsOf: round.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(metrics.contains("\"outputs_without_response\":0"), "\(metrics)")
        let pairs = try RecipeTests.records(PairRecord.self, round, "pairs.jsonl")
        #expect(pairs.count > 0)
        let answers = try RecipeTests.jsonLines(round.appendingPathComponent("evaluation.jsonl")).map { $0["answer"] as! String }
        #expect(answers.count == 10 && answers.allSatisfy { ThoughtPrompt.split($0) != nil })
    }
}
