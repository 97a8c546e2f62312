import Testing
import Foundation
import Alignment
import Pipeline
import TestSupport

/// Distillation through the scheduler on tiny models: a teacher writes, the judge filters, the student learns.
@Suite(.serialized) struct DistillRecipeTests {
    /// A `micro` teacher pretrained on the task's worked solutions ("Q: ...\nA: <solution>"), so that
    /// some of its sampled solutions are right and some wrong.
    static func teacherModel() throws -> String {
        try RecipeTests.microModel("teacher", steps: 600) {
            var task = ArithmeticTask()
            task.maxOperands = 3; task.maxValue = 20  // as configs/distill.yaml
            return task.problems(0..<1500, split: .train).map { "Q: \($0.question)\nA: \($0.solution)\n\n" }.joined()
        }
    }

    /// What `model` samples on its own through `autodidact generate` (4 samples of each problem in the "qa"
    /// format, stopping at a blank line) with seed 0 and the given round's streams.
    static func samplesAlone(_ model: String, _ problems: [Problem], name: String, temperature: Double, maxNewTokens: Int, round: Int) throws -> [String] {
        let prompts = RecipeTests.dir.appendingPathComponent("\(name)-prompts.jsonl")
        try problems.map { String(decoding: try JSONSerialization.data(withJSONObject: ["prompt": "Q: \($0.question)\nA: "]), as: UTF8.self) }
            .joined(separator: "\n").write(to: prompts, atomically: true, encoding: .utf8)
        let direct = RecipeTests.dir.appendingPathComponent("\(name)-direct.jsonl")
        let g = try autodidact(["generate", "--model", model, "--prompts", prompts.path, "--output", direct.path, "--samples", "4",
                                "--temperature", "\(temperature)", "--max-new-tokens", "\(maxNewTokens)", "--stop", "\n\n", "--seed", "0",
                                "--round", "\(round)", "--template", "none", "--truncate-prompts"])
        #expect(g.status == 0, "\(g.stderr)")
        return try RecipeTests.jsonLines(direct).map { $0["text"] as! String }
    }

    /// The round's outputs are exactly what the teacher samples on its own (same random streams), the SFT
    /// examples are exactly the distinct correct ones, and under mpirun -np 2 (gradients summed as over 2
    /// shards in both runs) the student trains to the same bytes: the workers got the student back after
    /// serving the teacher.
    @Test func studentLearnsFromTheTeachersCorrectSolutions() throws {
        let teacher = try Self.teacherModel(), student = try RecipeTests.judgingModel()
        let out = RecipeTests.freshDirectory("distill-run")
        let args = ["run", RecipeTests.config("distill"),
                    "model.path=\(student)", "data.template=qa", "data.eval_size=10", "evaluation.max_new_tokens=60",
                    "run.reduction_shards=2",
                    "schedule.rounds.phases.0.generate.teacher=\(teacher)", "schedule.rounds.phases.0.generate.questions=16",
                    "schedule.rounds.phases.0.generate.max_new_tokens=70", "schedule.rounds.phases.0.generate.stop=\n\n",
                    "schedule.rounds.phases.2.train.lr=0.001"]
        let r = try autodidact(args + ["run.output_dir=\(out.path)"])
        #expect(r.status == 0, "\(r.stderr)")
        let round = out.appendingPathComponent("round-01")
        let gens = try RecipeTests.records(GenerationRecord.self, round, "generations.jsonl")
        #expect(gens.count == 16 * 4)
        // The teacher alone, through `autodidact generate`, with the run's seed and round.
        var task = ArithmeticTask()
        task.maxOperands = 3; task.maxValue = 20
        let problems = task.problems(0..<16, split: .train)
        let directTexts = try Self.samplesAlone(teacher, problems, name: "distill", temperature: 0.7, maxNewTokens: 70, round: 1)
        #expect(gens.map(\.text) == directTexts)
        // Rejection sampling: the distinct outputs with the right final answer.
        var kept = Set<String>()
        for (k, gen) in gens.enumerated() where VerifiableJudge.isCorrect(gen.text, reference: problems[k / 4].answer) {
            #expect(gen.promptId == problems[k / 4].id)
            kept.insert(gen.promptId + "\u{0}" + gen.text)
        }
        #expect(kept.count > 0 && kept.count < gens.count, "the teacher should be right sometimes and wrong sometimes (\(kept.count))")
        let metrics = try String(contentsOf: round.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(metrics.contains("\"examples\":\(kept.count),"), "\(metrics)")
        let studentWeights = try Data(contentsOf: URL(fileURLWithPath: student).appendingPathComponent("model.safetensors"))
        let trained = try Data(contentsOf: round.appendingPathComponent("model/model.safetensors"))
        #expect(byteDifference(trained, studentWeights) != nil)
        // The same run on 2 ranks.
        let out2 = RecipeTests.dir.appendingPathComponent("distill-np2")
        try? FileManager.default.removeItem(at: out2)
        let r2 = try withCPUHogs { try RecipeTests.mpirun(args + ["run.output_dir=\(out2.path)"], threads: 3) }
        #expect(r2.status == 0, "\(r2.stderr)")
        for file in ["generations.jsonl", "model/model.safetensors", "model/optimizer.safetensors"] {
            let d = fileDifference(out2.appendingPathComponent("round-01/\(file)").path, round.appendingPathComponent(file).path)
            #expect(d == nil, "\(file): \(d ?? "")")
        }
    }

    /// The SFT phase is checkpointed: killed after its third step and resumed, the run trains the student
    /// to the same bytes as an uninterrupted run (one example a step, a checkpoint every 2 steps).
    @Test func aKilledSFTPhaseResumesFromItsCheckpoint() throws {
        let teacher = try Self.teacherModel(), student = try RecipeTests.judgingModel()
        let args = ["run", RecipeTests.config("distill"), "model.path=\(student)", "data.template=qa", "data.eval_size=4",
                    "evaluation.max_new_tokens=8", "schedule.rounds.phases.0.generate.teacher=\(teacher)",
                    "schedule.rounds.phases.0.generate.questions=16", "schedule.rounds.phases.0.generate.max_new_tokens=70",
                    "schedule.rounds.phases.0.generate.stop=\n\n", "schedule.rounds.phases.2.train.lr=0.001",
                    "schedule.rounds.phases.2.train.batch_size=1", "schedule.rounds.phases.2.train.checkpoint_every=2"]
        let whole = RecipeTests.freshDirectory("distill-whole"), resumed = RecipeTests.freshDirectory("distill-resumed")
        let r = try autodidact(args + ["run.output_dir=\(whole.path)"])
        #expect(r.status == 0, "\(r.stderr)")
        let steps = try RecipeTests.jsonLines(whole.appendingPathComponent("round-01/metrics.jsonl")).filter { $0["step"] != nil }.count
        #expect(steps >= 4, "\(steps) SFT steps")
        let killed = try autodidact(args + ["run.output_dir=\(resumed.path)"], environment: ["AUTODIDACT_KILL_AT": "round-1-2-train/step/3"])
        #expect(killed.status != 0)
        #expect(FileManager.default.fileExists(atPath: resumed.appendingPathComponent("round-01/checkpoint-000002").path))
        let again = try withCPUHogs {
            try autodidact(args + ["run.output_dir=\(resumed.path)", "--resume"], environment: ["AUTODIDACT_THREADS": "3"])
        }
        #expect(again.status == 0 && again.stderr.contains("resuming at step 2"), "\(again.stderr)")
        let differences = treeDifferences(whole.path, resumed.path, ignoring: ResumeTests.notCompared)
        #expect(differences.isEmpty, "\(differences.joined(separator: "; "))")
        // The same metrics lines, timings aside (phase seconds, a step's tokens per second): the examples line
        // once, every step once.
        func lines(_ run: URL) throws -> [String] {
            try String(contentsOf: run.appendingPathComponent("round-01/metrics.jsonl"), encoding: .utf8).split(separator: "\n")
                .filter { !$0.contains("\"seconds\"") }.map { line in
                    var o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                    for k in o.keys where k.hasSuffix("_per_s") { o[k] = nil }
                    return String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self)
                }
        }
        #expect(try lines(resumed) == lines(whole))
    }
}
