import Testing
import Foundation
import Pipeline
import TestSupport

/// End-to-end runs of a micro configuration: the artifacts, resuming after kills at several points
/// (mid-SFT, mid-save, mid-generation, mid-training) giving the same artifacts as an uninterrupted run,
/// and the refusals.
@Suite(.serialized) struct ResumeTests {
    static let dir = Paths.temporaryDirectory("resume")
    static let config = """
    # test config
    run:
      name: micro
      seed: 3
    model:
      shape: micro
    data:
      task: arithmetic
      max_operands: 3
      max_value: 20
      train_size: 300
      validation_size: 16
      eval_size: 24
    evaluation:
      max_new_tokens: 16
      batch_size: 8
    schedule:
      initial:
        - sft:
            batch_size: 8
            lr: 0.01
            warmup: 5
            min_steps: 150
            max_steps: 150
            eval_every: 50
            checkpoint_every: 4
      rounds:
        count: 1
        phases:
          - generate:
              questions: 16
              samples: 6
              temperature: 1.0
              max_new_tokens: 16
              batch_size: 8
          - judge:
              kind: verifiable
          - pairs:
              kind: correct_vs_incorrect
              max_pairs: 2
          - train:
              loss: irpo
              lr: 0.001
              batch_size: 2
              checkpoint_every: 3
              warmup: 1
              epochs: 2
          - evaluate:
      control:
        enabled: true
    """

    static func configPath() throws -> String {
        let path = dir.appendingPathComponent("micro.yaml").path
        if !FileManager.default.fileExists(atPath: path) { try config.write(toFile: path, atomically: true, encoding: .utf8) }
        return path
    }

    func runOnce(_ out: String, _ extra: [String] = [], kill: String? = nil) throws -> RunResult {
        try autodidact(["run", try ResumeTests.configPath(), "run.output_dir=\(out)"] + extra,
                       environment: kill.map { ["AUTODIDACT_KILL_AT": $0] } ?? [:])
    }

    static let artifacts = ["config.yaml", "initial/model/model.safetensors", "initial/evaluation.json", "round-01/generations.jsonl",
                            "round-01/judgments.jsonl", "round-01/pairs.jsonl", "round-01/model/model.safetensors", "round-01/model/optimizer.safetensors",
                            "initial/model/optimizer.safetensors",
                            "round-01/evaluation.json", "control/model/model.safetensors", "control/evaluation.json", "summary.md"]

    @Test func aRunWritesItsArtifactsAndResumedRunsEndIdentical() throws {
        let a = ResumeTests.dir.appendingPathComponent("uninterrupted").path
        let r = try runOnce(a)
        #expect(r.status == 0, "\(r.stderr)")
        for f in ResumeTests.artifacts { #expect(FileManager.default.fileExists(atPath: "\(a)/\(f)"), "missing \(f)") }
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(a)/state.json"))) as! [String: Any]
        #expect(state["finished"] as? Bool == true)
        let metrics = try String(contentsOfFile: "\(a)/initial/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(metrics.filter { $0.contains("\"step\"") }.count == 150)
        #expect(r.stdout.contains("| SFT |") && r.stdout.contains("| round 1 |") && r.stdout.contains("control"))
        #expect(try !String(contentsOfFile: "\(a)/round-01/pairs.jsonl", encoding: .utf8).isEmpty)

        // Kill at several points, resuming after each.
        let b = ResumeTests.dir.appendingPathComponent("interrupted").path
        let kills = ["initial-0-sft/step/22", "initial-0-sft/saving/32", "round-1-0-generate/chunk/2", "round-1-3-train/step/4",
                     "control/step/6"]
        var first = true
        for k in kills {
            let x = try runOnce(b, first ? [] : ["--resume"], kill: k)
            #expect(x.status != 0 && x.stderr.contains("killing at \(k)"), "\(k): \(x.stderr)")
            first = false
        }
        let done = try runOnce(b, ["--resume"])
        #expect(done.status == 0, "\(done.stderr)")
        #expect(done.stderr.contains("resuming"), "no checkpoint was used")
        // config.yaml differs only by run.output_dir.
        for f in ResumeTests.artifacts where f != "summary.md" && f != "config.yaml" {
            let x = try Data(contentsOf: URL(fileURLWithPath: "\(a)/\(f)")), y = try Data(contentsOf: URL(fileURLWithPath: "\(b)/\(f)"))
            #expect(x == y, "\(f) differs after resuming")
        }
        // No completed work is lost or redone: one metrics line per SFT step.
        let mb = try String(contentsOfFile: "\(b)/initial/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(mb.filter { $0.contains("\"step\"") }.count == 150)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(b)/initial").filter { $0.hasPrefix("checkpoint") }.isEmpty)

        // Resuming a finished run does nothing; a changed config is refused unless forced; a second fresh run into
        // an existing directory is refused.
        let again = try runOnce(b, ["--resume"])
        #expect(again.status == 0 && again.stdout.contains("already finished"))
        let changed = try runOnce(b, ["--resume", "run.seed=9"])
        #expect(changed.status != 0 && changed.stderr.contains("different configuration"))
        let forced = try runOnce(b, ["--resume", "--force", "run.seed=9"])
        #expect(forced.status == 0)
        let fresh = try runOnce(b)
        #expect(fresh.status != 0 && fresh.stderr.contains("--resume"))
    }

    @Test func twoRanksGiveTheSameRunWithinTheIntervals() throws {
        let out = ResumeTests.dir.appendingPathComponent("np2").path
        let r = try run(["mpirun", "--oversubscribe", "-np", "2", Paths.executable.path, "run", try ResumeTests.configPath(), "run.output_dir=\(out)"],
                        environment: MPITests.env)
        #expect(r.status == 0, "\(r.stderr)")
        // Every sample's text is its tokens decoded (byte tokenizer), whichever rank generated it.
        for line in try String(contentsOfFile: "\(out)/round-01/generations.jsonl", encoding: .utf8).split(separator: "\n") {
            let g = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let bytes = (g["token_ids"] as! [Int]).filter { $0 < 256 }.map { UInt8($0) }
            #expect(g["text"] as? String == String(decoding: bytes, as: UTF8.self), "\(line)")
        }
        let one = ResumeTests.dir.appendingPathComponent("uninterrupted").path
        // Training differs only by summation order, so the final accuracies agree within a few problems.
        if FileManager.default.fileExists(atPath: "\(one)/initial/evaluation.json") {
            let e1 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(one)/round-01/evaluation.json"))) as! [String: Any]
            let e2 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/round-01/evaluation.json"))) as! [String: Any]
            let c1 = (e1["correct"] as! [Bool]).filter { $0 }.count, c2 = (e2["correct"] as! [Bool]).filter { $0 }.count
            #expect(abs(c1 - c2) <= 4, "\(c1) vs \(c2) correct of 24")
        }
    }

    /// The pair file's reference log-probs come from the model at the start of the round, or from the
    /// model the rounds started from when `pairs.reference: initial`; checked by scoring the stored pairs
    /// independently with `preference-loss`.
    @Test func referenceLogProbsComeFromTheConfiguredModel() throws {
        func refs(_ file: String) throws -> [Double] {
            try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map {
                (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["ref_chosen_logps"] as! Double
            }
        }
        func scored(_ model: String, _ pairs: String) throws -> [Double] {
            let r = try autodidact(["preference-loss", "--policy", model, "--reference", model, "--pairs", pairs, "--loss", "dpo"])
            #expect(r.status == 0, "\(r.stderr)")
            return try r.stdout.split(separator: "\n").map {
                (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["ref_chosen_logps"] as! Double
            }
        }
        func close(_ a: [Double], _ b: [Double]) -> Bool { a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) < 1e-3 } }
        for reference in ["round_start", "initial"] {
            let out = ResumeTests.dir.appendingPathComponent("reference-\(reference)").path
            let r = try runOnce(out, ["schedule.rounds.count=2", "schedule.control.enabled=false", "schedule.rounds.phases.2.pairs.reference=\(reference)"])
            #expect(r.status == 0, "\(r.stderr)")
            let pairs = "\(out)/round-02/pairs.jsonl"
            let stored = try refs(pairs)
            #expect(!stored.isEmpty)
            let underStart = try scored("\(out)/round-01/model", pairs), underInitial = try scored("\(out)/initial/model", pairs)
            #expect(!close(underStart, underInitial), "the two candidate references should differ")
            #expect(close(stored, reference == "initial" ? underInitial : underStart), "\(reference): \(stored.prefix(3)) vs \(underStart.prefix(3)) / \(underInitial.prefix(3))")
        }
    }


    /// Under mpirun a kill of the coordinator ends the job; resuming at the same world size ends with the
    /// artifacts of an uninterrupted run at that world size.
    @Test func twoRankRunsResumeToTheSameArtifacts() throws {
        func mpirun(_ out: String, _ extra: [String] = [], kill: String? = nil) throws -> RunResult {
            var args = ["mpirun", "--oversubscribe", "-np", "2"]
            if kill != nil { args += ["-x", "AUTODIDACT_KILL_AT"] }
            return try run(args + [Paths.executable.path, "run", try ResumeTests.configPath(), "run.output_dir=\(out)"] + extra,
                           environment: MPITests.env.merging(kill.map { ["AUTODIDACT_KILL_AT": $0] } ?? [:]) { a, _ in a })
        }
        let a = ResumeTests.dir.appendingPathComponent("np2-uninterrupted").path, b = ResumeTests.dir.appendingPathComponent("np2-interrupted").path
        let r = try mpirun(a)
        #expect(r.status == 0, "\(r.stderr)")
        var first = true
        for k in ["initial-0-sft/step/22", "round-1-0-generate/chunk/2", "round-1-3-train/step/4"] {
            let x = try mpirun(b, first ? [] : ["--resume"], kill: k)
            #expect(x.status != 0 && x.stderr.contains("killing at \(k)"), "\(k): \(x.stderr)")
            first = false
        }
        let done = try mpirun(b, ["--resume"])
        #expect(done.status == 0, "\(done.stderr)")
        for f in ResumeTests.artifacts where f != "summary.md" && f != "config.yaml" {
            let x = try Data(contentsOf: URL(fileURLWithPath: "\(a)/\(f)")), y = try Data(contentsOf: URL(fileURLWithPath: "\(b)/\(f)"))
            #expect(x == y, "\(f) differs after resuming at 2 ranks")
        }
    }


    /// A run on problems from GSM8K-layout files (including a training file shorter than train_size), and
    /// a malformed line named by file and line.
    @Test func gsm8kFilesRunAndBadLinesAreNamed() throws {
        var task = ArithmeticTask()
        task.maxOperands = 3; task.maxValue = 20
        func write(_ problems: [Problem], _ name: String) throws -> String {
            let path = ResumeTests.dir.appendingPathComponent(name).path
            let lines = try problems.map { p -> String in
                String(decoding: try JSONSerialization.data(withJSONObject: ["question": p.question, "answer": p.solution], options: [.sortedKeys]), as: UTF8.self)
            }
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let trainFile = try write(task.problems(0..<60, split: .train), "gsm-train.jsonl")
        let evalFile = try write(task.problems(0..<10, split: .evaluation), "gsm-eval.jsonl")
        let config = ResumeTests.config.replacingOccurrences(of: """
          task: arithmetic
          max_operands: 3
          max_value: 20
          train_size: 300
        """, with: """
          task: file
          train_file: \(trainFile)
          eval_file: \(evalFile)
          train_size: 300
        """)
        #expect(config.contains("task: file"))
        let path = ResumeTests.dir.appendingPathComponent("gsm.yaml").path
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        let out = ResumeTests.dir.appendingPathComponent("gsm").path
        let r = try autodidact(["run", path, "run.output_dir=\(out)", "schedule.initial.0.sft.max_steps=20", "schedule.initial.0.sft.min_steps=20"])
        #expect(r.status == 0, "\(r.stderr)")
        let e = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/round-01/evaluation.json"))) as! [String: Any]
        #expect((e["correct"] as! [Bool]).count == 10)
        // A line without '#### N' is refused, naming the file and the line.
        try (String(contentsOfFile: trainFile, encoding: .utf8) + "{\"question\": \"q\", \"answer\": \"no final answer\"}\n").write(toFile: trainFile, atomically: true, encoding: .utf8)
        let bad = try autodidact(["run", path, "run.output_dir=\(out)-bad"])
        #expect(bad.status != 0 && bad.stderr.contains("gsm-train.jsonl:61"), "\(bad.stderr)")
    }


    /// With `run.reduction_shards: 2` one process sums each batch's gradient as two ranks do, so a 1-process
    /// run and a 2-rank run write the same bytes.
    @Test func oneProcessWithTwoReductionShardsEqualsTwoRanks() throws {
        let one = ResumeTests.dir.appendingPathComponent("shards-np1").path, two = ResumeTests.dir.appendingPathComponent("shards-np2").path
        let r1 = try runOnce(one, ["run.reduction_shards=2"])
        #expect(r1.status == 0, "\(r1.stderr)")
        let r2 = try run(["mpirun", "--oversubscribe", "-np", "2", Paths.executable.path, "run", try ResumeTests.configPath(),
                          "run.output_dir=\(two)", "run.reduction_shards=2"], environment: MPITests.env)
        #expect(r2.status == 0, "\(r2.stderr)")
        for f in ResumeTests.artifacts where f != "summary.md" && f != "config.yaml" {
            let x = try Data(contentsOf: URL(fileURLWithPath: "\(one)/\(f)")), y = try Data(contentsOf: URL(fileURLWithPath: "\(two)/\(f)"))
            #expect(x == y, "\(f) differs between 1 process and 2 ranks")
        }
        // Without it the two differ (the sums are taken in another order), so the test above can fail.
        let plain = ResumeTests.dir.appendingPathComponent("shards-plain").path
        #expect(try runOnce(plain).status == 0)
        let a = try Data(contentsOf: URL(fileURLWithPath: "\(plain)/initial/model/model.safetensors"))
        let b = try Data(contentsOf: URL(fileURLWithPath: "\(two)/initial/model/model.safetensors"))
        #expect(a != b)
    }

}
