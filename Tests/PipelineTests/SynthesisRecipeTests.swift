import Testing
import Foundation
import Alignment
import Pipeline
import TestSupport

/// Question synthesis through the scheduler on a tiny model, then a round on the synthesized questions.
@Suite(.serialized) struct SynthesisRecipeTests {
    /// A `micro` model that follows the tail of the synthesis prompt with "Question: ...\nAnswer: N": new
    /// questions from the task's training split, some from its evaluation split (contaminated), one that
    /// recurs (duplicates) and some that cite "the document"; and that answers "Q: ...\nA: " with a number.
    static func writerModel() throws -> String {
        try RecipeTests.microModel("writer", steps: 1500) {
            var rng = TestRNG(17)
            var task = ArithmeticTask()
            task.maxOperands = 3; task.maxValue = 20
            let train = task.problems(0..<600, split: .train), evaluation = task.problems(0..<10, split: .evaluation)
            let tail = String(QuestionSynthesis.defaultTemplate.suffix(60))
            return train.map { p in
                let pick = rng.int(20)
                let (q, a) = pick < 4 ? (evaluation[rng.int(10)].question, evaluation[0].answer)
                    : pick < 7 ? ("How many loaves are left?", "10")
                    : pick < 9 ? ("In the document, how many now?", "3") : (p.question, p.answer)
                let answer = rng.int(2) == 0 ? p.answer : String(rng.int(40))
                return "\(tail)\nQuestion: \(q)\nAnswer: \(a)\n\nQ: \(p.question)\nA: \(answer)\n\n"
            }.joined()
        }
    }

    @Test func synthesizedQuestionsAreScreenedAndBecomeTheRoundsQuestions() throws {
        let model = try Self.writerModel()
        let docs = RecipeTests.dir.appendingPathComponent("documents")
        try FileManager.default.createDirectory(at: docs, withIntermediateDirectories: true)
        for k in 0..<6 { try "Document \(k): a shop sold \(k * 7) loaves.".write(to: docs.appendingPathComponent("d\(k).txt"), atomically: true, encoding: .utf8) }
        let out = RecipeTests.freshDirectory("synthesize-run")
        let args = ["run", RecipeTests.config("synthesize"),
                    "model.path=\(model)", "data.template=qa", "data.eval_size=10",
                    "evaluation.max_new_tokens=4", "schedule.rounds.phases.0.synthesize.documents=\(docs.path)",
                    "schedule.rounds.phases.0.synthesize.max_new_tokens=80",
                    "schedule.rounds.phases.1.generate.max_new_tokens=2", "schedule.rounds.phases.4.train.lr=0.0001"]
        let r = try autodidact(args + ["run.output_dir=\(out.path)"])
        #expect(r.status == 0, "\(r.stderr)")
        let round = out.appendingPathComponent("round-01")
        let candidates = try RecipeTests.jsonLines(round.appendingPathComponent("synthesis.jsonl"))
        #expect(candidates.count == 6 * 8)
        var task = ArithmeticTask()
        task.maxOperands = 3; task.maxValue = 20
        let evaluation = (task.problems(0..<10, split: .evaluation) + task.problems(0..<1, split: .validation)).map { TextOverlap.words($0.question) }
        var kept: [(question: String, answer: String)] = []
        var seen: [String: Int] = [:]
        for c in candidates {
            let status = c["status"] as! String
            seen[status, default: 0] += 1
            let q = c["question"] as? String
            switch status {
            case "kept":
                let w = TextOverlap.words(q!)
                #expect(kept.allSatisfy { TextOverlap.rougeL(w, TextOverlap.words($0.question)) < 0.7 })
                #expect(evaluation.allSatisfy { TextOverlap.rougeL(w, $0) < 0.7 && TextOverlap.ngrams(w, n: 8).isDisjoint(with: TextOverlap.ngrams($0, n: 8)) })
                kept.append((q!, c["answer"] as! String))
            case "duplicate":
                #expect(kept.contains { TextOverlap.rougeL(TextOverlap.words(q!), TextOverlap.words($0.question)) >= 0.7 })
            case "contaminated":
                let w = TextOverlap.words(q!)
                #expect(evaluation.contains { TextOverlap.rougeL(w, $0) >= 0.7 || !TextOverlap.ngrams(w, n: 8).isDisjoint(with: TextOverlap.ngrams($0, n: 8)) })
            case "refers_to_document": #expect(q!.lowercased().contains("the document"))
            default: break
            }
        }
        #expect(seen["kept", default: 0] >= 4 && seen["duplicate", default: 0] > 0 && seen["contaminated", default: 0] > 0, "\(seen)")
        let questions = try RecipeTests.records(PromptRecord.self, round, "questions.jsonl")
        #expect(questions.map(\.prompt) == kept.map(\.question) && questions.map { $0.reference ?? "" } == kept.map(\.answer))
        // The round's questions are the kept ones, judged against their synthesized reference answers.
        let gens = try RecipeTests.records(GenerationRecord.self, round, "generations.jsonl")
        let judgments = try RecipeTests.records(JudgmentRecord.self, round, "judgments.jsonl")
        #expect(gens.count == min(questions.count, 64) * 8)
        let reference = Dictionary(uniqueKeysWithValues: questions.map { ($0.id, $0.reference!) })
        for (g, j) in zip(gens, judgments) {
            #expect(g.promptId.hasPrefix("syn-1-"))
            #expect(j.score == (VerifiableJudge.isCorrect(g.text, reference: reference[g.promptId]!) ? 1 : 0))
        }
        #expect(FileManager.default.fileExists(atPath: round.appendingPathComponent("model/model.safetensors").path))
        // Stopped on request while writing questions (after its second chunk): the chunks are saved in
        // synthesis.partial/, and --resume ends with the uninterrupted run's bytes.
        try RecipeTests.stopAndResume(args, name: "synthesize-signalled", at: "round-1-0-synthesize/call-0000/chunk-000001",
                                      partial: "round-01/synthesis.partial/call-0000", expected: ["chunk-000000.json", "chunk-000001.json"], whole: out)
    }

    /// A `micro` model that follows the tail of the prompt-synthesis request with "Instruction: <one of a
    /// few made-up instructions>", and judges "Q: ...\nA: ..." with "Score: S" as the judging model does.
    static func instructionWriterModel() throws -> String {
        try RecipeTests.microModel("instruction-writer", steps: 1200) {
            var rng = TestRNG(19)
            let tail = String(PromptSynthesis.defaultTemplate.suffix(60))
            let verbs = ["Describe", "Explain", "List", "Name"], topics = ["a river", "the moon", "a dog", "rain", "a clock", "bread"]
            return (0..<1500).map { _ in
                let instruction = "\(verbs[rng.int(4)]) \(topics[rng.int(6)]) in \(2 + rng.int(8)) words."
                return "\(tail)\nInstruction: \(instruction)\n\nQ: \(instruction)\nA: \(rng.int(10))\nScore: \(1 + rng.int(5))\n\n"
            }.joined()
        }
    }

    /// Self-Rewarding's prompt synthesis over two rounds: round 1 writes new instructions few-shot from the
    /// shipped seed set, screened against it; round 2 (Self-RIP) draws its examples from the prompts of
    /// round 1's pairs. Each round's questions are the instructions it kept.
    @Test func seededSynthesisWritesNewPromptsFromSeedsAndFromThePreviousPairs() throws {
        let model = try Self.instructionWriterModel()
        let rubric = try RecipeTests.rubric("seed-rubric.txt")
        let out = RecipeTests.freshDirectory("seeded-run")
        let seeds = Paths.repo.appendingPathComponent("data/seed-instructions.jsonl").path
        // configs/self-rewarding.yaml with round 2 drawing its examples from round 1's pairs.
        let config = RecipeTests.dir.appendingPathComponent("self-rip.yaml")
        try (String(contentsOf: Paths.repo.appendingPathComponent("configs/self-rewarding.yaml"), encoding: .utf8)
             + "    overrides:\n      \"2\": {synthesize.seeds: previous_pairs}\n").write(to: config, atomically: true, encoding: .utf8)
        let r = try autodidact(["run", config.path,
                                "model.path=\(model)", "run.output_dir=\(out.path)", "data.template=qa", "data.eval_size=10",
                                "evaluation.max_new_tokens=4", "schedule.rounds.count=2",
                                "schedule.rounds.phases.0.synthesize.seeds=\(seeds)", "schedule.rounds.phases.0.synthesize.shots=2",
                                "schedule.rounds.phases.0.synthesize.max_new_tokens=40",
                                "schedule.rounds.phases.1.generate.max_new_tokens=2",
                                "schedule.rounds.phases.2.judge.rubric=\(rubric.path)", "schedule.rounds.phases.2.judge.max_new_tokens=12",
                                "schedule.rounds.phases.2.judge.mode=generate", "evaluation.judge_mode=generate",
                                "schedule.rounds.phases.4.train.lr=0.0001"])
        #expect(r.status == 0, "\(r.stderr)")
        let seedPrompts = try RecordFile.read(PromptRecord.self, from: seeds).map(\.prompt)
        var previousPairPrompts: Set<String> = [], roundOneQuestions: [String] = []
        for round in 1...2 {
            let folder = out.appendingPathComponent(String(format: "round-%02d", round))
            let candidates = try RecipeTests.jsonLines(folder.appendingPathComponent("synthesis.jsonl"))
            let questions = try RecipeTests.records(PromptRecord.self, folder, "questions.jsonl")
            #expect(questions.count >= 2 && candidates.count == 32, "round \(round): \(questions.count) kept of \(candidates.count)")
            let existing = round == 1 ? seedPrompts : Array(previousPairPrompts) + roundOneQuestions
            var kept: [String] = []
            for c in candidates {
                let examples = c["examples"] as! [String]
                #expect(examples.count == 2)
                #expect(examples.allSatisfy { round == 1 ? seedPrompts.contains($0) : previousPairPrompts.contains($0) })
                if c["status"] as! String == "kept" {
                    let w = TextOverlap.words(c["question"] as! String)
                    #expect((existing + kept).allSatisfy { TextOverlap.rougeL(w, TextOverlap.words($0)) < 0.7 })
                    kept.append(c["question"] as! String)
                }
            }
            #expect(questions.map(\.prompt) == kept && questions.allSatisfy { $0.reference == nil })
            if round == 1 { roundOneQuestions = kept }
            let gens = try RecipeTests.records(GenerationRecord.self, folder, "generations.jsonl")
            #expect(Set(gens.map(\.promptId)) == Set(questions.prefix(32).map(\.id)))
            let pairs = try RecipeTests.records(PairRecord.self, folder, "pairs.jsonl")
            let byId = Dictionary(uniqueKeysWithValues: questions.map { ($0.id, $0.prompt) })
            previousPairPrompts = Set(pairs.compactMap { $0.promptId.flatMap { byId[$0] } })
            if round == 1 { #expect(previousPairPrompts.count >= 2, "round 2 needs examples") }
        }
    }

    /// A `micro` model that follows the tail of the modified-instruction request with "Question: <another
    /// question of the task>", answers "Q: ...\nA: " with a worked solution, and ends the tail of the
    /// pairwise judge prompt with a random [[A]] or [[B]].
    static func modifierModel() throws -> String {
        try RecipeTests.microModel("modifier", steps: 1500) {
            var rng = TestRNG(23)
            let problems = ArithmeticTask().problems(0..<1000, split: .train)
            let pairs = ArithmeticJudgePairs.make(count: 200, seed: 9)
            let judge = JudgeTemplates()
            return problems.enumerated().map { k, p in
                let other = problems[rng.int(problems.count)]
                let pair = pairs[k % pairs.count]
                return String(ModifiedInstruction.prompt(p.question).suffix(70)) + "\nQuestion: \(other.question)\n\n"
                    + "Q: \(p.question)\nA: \(p.solution)\n\n"
                    + String(judge.fillPairwise(instruction: pair.prompt, a: pair.chosen, b: pair.rejected).suffix(80)) + "\n\(rng.int(2) == 0 ? "[[A]]" : "[[B]]")\n\n"
            }.joined()
        }
    }

    /// The Self-Taught Evaluator's synthetic pairs and its SFT variant: each modification is screened as
    /// recomputed here; each kept one makes the pair (question, good response, answer to the modified
    /// question) in both orders; those are the round's judge questions; SFT trains on exactly the distinct
    /// verdicts that name the better response.
    @Test func modifiedInstructionsMakeKnownLabelPairsForTheJudge() throws {
        let model = try Self.modifierModel()
        let out = RecipeTests.freshDirectory("ste-modified-run")
        let pairsFile = Paths.repo.appendingPathComponent("data/judge-pairs.jsonl").path
        let r = try autodidact(["run", RecipeTests.config("self-taught-evaluator"),
                                "model.path=\(model)", "run.output_dir=\(out.path)", "data.template=qa", "data.eval_size=4",
                                "data.pairs_file=\(pairsFile)", "evaluation.max_new_tokens=8", "schedule.rounds.count=1",
                                "schedule.rounds.phases.0.synthesize.modified_instructions=12", "schedule.rounds.phases.0.synthesize.max_new_tokens=60",
                                "schedule.rounds.phases.1.generate.questions=24", "schedule.rounds.phases.1.generate.samples=4",
                                "schedule.rounds.phases.1.generate.max_new_tokens=8", "schedule.rounds.phases.4.train.loss=sft",
                                "schedule.rounds.phases.4.train.lr=0.001"])
        #expect(r.status == 0, "\(r.stderr)")
        let round = out.appendingPathComponent("round-01")
        let labelled = Array(try ArithmeticJudgePairs.read(pairsFile).prefix(12))
        let records = try RecipeTests.jsonLines(round.appendingPathComponent("synthesis.jsonl"))
        #expect(records.count == 12)
        let t = JudgeTemplates()
        var expected: [(id: String, prompt: String, answer: String)] = []
        var statuses: [String: Int] = [:]
        for (source, record) in zip(labelled, records) {
            #expect(record["pair_id"] as? String == source.id)
            let q = PromptSynthesis.parse(record["text"] as! String, label: "Question")
            #expect(record["question"] as? String == q)
            let response = record["response"] as? String
            let status: String
            if let q, let response {
                let words = TextOverlap.words(q)
                status = words.count < 4 ? "too_short" : words == TextOverlap.words(source.prompt) ? "duplicate"
                    : VerifiableJudge.extractAnswer(response).map { $0 == VerifiableJudge.extractAnswer(source.chosen) } == true ? "answers_original" : "kept"
            } else {
                status = "unparsed"
            }
            #expect(record["status"] as? String == status, "\(source.id)")
            statuses[status, default: 0] += 1
            if status == "kept" {
                expected.append(("\(source.id)/mod-1/AB", t.fillPairwise(instruction: source.prompt, a: source.chosen, b: response!), "A"))
                expected.append(("\(source.id)/mod-1/BA", t.fillPairwise(instruction: source.prompt, a: response!, b: source.chosen), "B"))
            }
        }
        #expect(statuses["kept", default: 0] >= 3, "\(statuses)")
        let questions = try RecipeTests.records(PromptRecord.self, round, "questions.jsonl")
        #expect(questions.map(\.id) == expected.map(\.id) && questions.map(\.prompt) == expected.map(\.prompt))
        #expect(questions.map { $0.reference ?? "" } == expected.map(\.answer))
        #expect(try ArithmeticJudgePairs.read(round.appendingPathComponent("modified_pairs.jsonl").path).count == expected.count / 2)
        // The round judges them; SFT keeps the distinct verdicts that name the better response.
        let gens = try RecipeTests.records(GenerationRecord.self, round, "generations.jsonl")
        #expect(gens.count == min(24, expected.count) * 4)
        let right = Dictionary(uniqueKeysWithValues: expected.map { ($0.id, $0.answer) })
        let agreeing = Set(gens.filter { JudgeParsing.verdict($0.text) == right[$0.promptId] }.map { $0.promptId + "\u{0}" + $0.text })
        #expect(!agreeing.isEmpty)
        let metrics = try String(contentsOf: round.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(metrics.contains("\"examples\":\(agreeing.count),"), "\(metrics)")
    }
}
