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
      max_operands: 2
      max_value: 9
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

    func runOnce(_ out: String, _ extra: [String] = [], kill: String? = nil, threads: Int? = nil) throws -> RunResult {
        var env: [String: String] = [:]
        if let kill { env["AUTODIDACT_KILL_AT"] = kill }
        if let threads { env["AUTODIDACT_THREADS"] = String(threads) }
        return try autodidact(["run", try ResumeTests.configPath(), "run.output_dir=\(out)"] + extra, environment: env)
    }

    /// Files of a run that legitimately differ between two runs of it: timings (metrics), the output
    /// directory (config.yaml), the world size (state.json), the table with its timings (summary.md), the
    /// holder of the run's lock (.lock), where the process was and when (progress.json), the report with its
    /// timings (report.html).
    static let notCompared: Set<String> = ["metrics.jsonl", "config.yaml", "state.json", "summary.md", ".lock", "progress.json", "report.html"]

    /// Training steps of `phase` in a finished run, from its metrics: the run's own plan on this machine.
    static func steps(_ run: String, folder: String, phase: String) throws -> Int {
        try String(contentsOfFile: "\(run)/\(folder)/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .filter { $0.contains("\"phase\":\"\(phase)\"") && $0.contains("\"step\"") }.count
    }

    /// Kill points at every boundary of a training phase of `total` steps checkpointed every `every`, in the
    /// order a run reaches them: mid-way, a checkpoint after that written but not recorded, the next one
    /// recorded but its predecessor not yet deleted, the final model saved but not recorded, recorded but
    /// the last checkpoint not deleted, the phase done.
    static func boundaries(_ key: String, total: Int, every: Int) -> [String] {
        let mid = (total + 1) / 2
        let checkpoints = Array(stride(from: every, to: total, by: every)).filter { $0 > mid }
        var points = ["\(key)/step/\(mid)"]
        if let first = checkpoints.first { points.append("\(key)/saved/\(first)") }
        if checkpoints.count > 1 { points.append("\(key)/recorded/\(checkpoints[1])") }
        return points + ["\(key)/final/saved", "\(key)/final/recorded", "\(key)/done"]
    }

    static let artifacts = ["config.yaml", "initial/model/model.safetensors", "initial/evaluation.json", "round-01/generations.jsonl",
                            "round-01/judgments.jsonl", "round-01/pairs.jsonl", "round-01/model/model.safetensors", "round-01/model/optimizer.safetensors",
                            "initial/model/optimizer.safetensors",
                            "round-01/evaluation.json", "control/model/model.safetensors", "control/evaluation.json", "summary.md"]

    /// A run killed at every boundary of its phases (kill points from the run's own plan: its step counts),
    /// resumed each time at another thread count with busy processes beside it, ends with every file
    /// byte-identical to an uninterrupted run's at one thread, optimizer states included.
    @Test func aRunWritesItsArtifactsAndResumedRunsEndIdentical() throws {
        let a = ResumeTests.dir.appendingPathComponent("uninterrupted").path
        let r = try runOnce(a, threads: 1)
        #expect(r.status == 0, "\(r.stderr)")
        for f in ResumeTests.artifacts { #expect(FileManager.default.fileExists(atPath: "\(a)/\(f)"), "missing \(f)") }
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(a)/state.json"))) as! [String: Any]
        #expect(state["finished"] as? Bool == true)
        let metrics = try String(contentsOfFile: "\(a)/initial/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(metrics.filter { $0.contains("\"step\"") }.count == 150)
        #expect(r.stdout.contains("| SFT |") && r.stdout.contains("| round 1 |") && r.stdout.contains("control"))
        let trainSteps = try ResumeTests.steps(a, folder: "round-01", phase: "round-1-3-train")
        let controlSteps = try ResumeTests.steps(a, folder: "control", phase: "control")
        #expect(trainSteps >= 10 && controlSteps >= 2, "the round should train on pairs: \(trainSteps) steps, control \(controlSteps)")

        // Kill at every boundary, resuming after each at 1, 2 or 3 threads.
        let b = ResumeTests.dir.appendingPathComponent("interrupted").path
        let kills = ["initial-0-sft/step/22", "initial-0-sft/saving/32"]
            + ResumeTests.boundaries("initial-0-sft", total: 150, every: 4)
            + ["initial-evaluate/done", "round-1-0-generate/chunk/2", "round-1-0-generate/done", "round-1-2-pairs/done"]
            + ResumeTests.boundaries("round-1-3-train", total: trainSteps, every: 3)
            + ["round-1-4-evaluate/done"] + ResumeTests.boundaries("control", total: controlSteps, every: 4) + ["control-evaluate/done"]
        var first = true, resumedAtSteps = 0
        try withCPUHogs {
            for (i, k) in kills.enumerated() {
                let x = try runOnce(b, first ? [] : ["--resume"], kill: k, threads: 1 + (i + 1) % 3)
                #expect(x.status != 0 && x.stderr.contains("killing at \(k)"), "\(k): \(x.stderr.suffix(2000))")
                if x.stderr.contains(": resuming at step ") { resumedAtSteps += 1 }
                first = false
            }
            let done = try runOnce(b, ["--resume"], threads: 3)
            #expect(done.status == 0, "\(done.stderr)")
        }
        #expect(resumedAtSteps >= 6, "checkpoints were used \(resumedAtSteps) times")
        let differences = treeDifferences(a, b, ignoring: ResumeTests.notCompared)
        #expect(differences.isEmpty, "after resuming: \(differences.joined(separator: "; "))")
        // No completed work is lost or redone: one metrics line per SFT step.
        let mb = try String(contentsOfFile: "\(b)/initial/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(mb.filter { $0.contains("\"step\"") }.count == 150)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(b)/initial").filter { $0.hasPrefix("checkpoint") }.isEmpty)

        // Resuming a finished run does nothing; a changed config is refused, naming the changed keys, even when
        // forced (a finished run is never extended), and the folder's config.yaml stays the run's; a second
        // fresh run into an existing directory is refused.
        let configBefore = try Data(contentsOf: URL(fileURLWithPath: "\(b)/config.yaml"))
        let again = try runOnce(b, ["--resume"])
        #expect(again.status == 0 && again.stdout.contains("already finished"))
        let changed = try runOnce(b, ["--resume", "run.seed=9"])
        #expect(changed.status != 0 && changed.stderr.contains("different configuration (changed: run.seed)"), "\(changed.stderr)")
        let forced = try runOnce(b, ["--resume", "--force", "run.seed=9", "schedule.rounds.count=2"])
        #expect(forced.status != 0 && forced.stderr.contains("run.seed, schedule.rounds.count"), "\(forced.stderr)")
        #expect(byteDifference(configBefore, try Data(contentsOf: URL(fileURLWithPath: "\(b)/config.yaml"))) == nil)
        let finalState = try loadJSON(URL(fileURLWithPath: "\(b)/state.json")) as! [String: Any]
        #expect(finalState["finished"] as? Bool == true && finalState["phase"] == nil && finalState["round"] == nil)
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
        // Training differs only by summation order, so the final accuracies' 95% intervals overlap.
        if FileManager.default.fileExists(atPath: "\(one)/initial/evaluation.json") {
            let e1 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(one)/round-01/evaluation.json"))) as! [String: Any]
            let e2 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/round-01/evaluation.json"))) as! [String: Any]
            let c1 = (e1["correct"] as! [Bool]).filter { $0 }.count, c2 = (e2["correct"] as! [Bool]).filter { $0 }.count
            let i1 = Statistics.wilson(successes: c1, trials: 24), i2 = Statistics.wilson(successes: c2, trials: 24)
            #expect(i1.low <= i2.high && i2.low <= i1.high, "\(c1) vs \(c2) correct of 24")
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


    /// `autodidact run` of the test config under `mpirun -np 2`, with `threads` per rank.
    func mpirun(_ out: String, _ extra: [String] = [], kill: String? = nil, threads: Int? = nil) throws -> RunResult {
        var args = ["mpirun", "--oversubscribe", "-np", "2"], env = MPITests.env
        if let kill { args += ["-x", "AUTODIDACT_KILL_AT"]; env["AUTODIDACT_KILL_AT"] = kill }
        if let threads { args += ["-x", "AUTODIDACT_THREADS"]; env["AUTODIDACT_THREADS"] = String(threads) }
        return try run(args + [Paths.executable.path, "run", try ResumeTests.configPath(), "run.output_dir=\(out)"] + extra, environment: env)
    }

    /// Under mpirun a kill of the coordinator ends the job; resuming at the same world size (at other thread
    /// counts per rank, with busy processes beside it) ends with the files of an uninterrupted run at that
    /// world size.
    @Test func twoRankRunsResumeToTheSameArtifacts() throws {
        let a = ResumeTests.dir.appendingPathComponent("np2-uninterrupted").path, b = ResumeTests.dir.appendingPathComponent("np2-interrupted").path
        let r = try mpirun(a, threads: 1)
        #expect(r.status == 0, "\(r.stderr)")
        let trainSteps = try ResumeTests.steps(a, folder: "round-01", phase: "round-1-3-train")
        var first = true
        try withCPUHogs {
            for (i, k) in ["initial-0-sft/recorded/8", "initial-0-sft/step/22", "initial-0-sft/final/recorded", "round-1-0-generate/chunk/2",
                           "round-1-3-train/step/\((trainSteps + 1) / 2)"].enumerated() {
                let x = try mpirun(b, first ? [] : ["--resume"], kill: k, threads: 2 + i % 2)
                #expect(x.status != 0 && x.stderr.contains("killing at \(k)"), "\(k): \(x.stderr.suffix(2000))")
                first = false
            }
            let done = try mpirun(b, ["--resume"], threads: 2)
            #expect(done.status == 0, "\(done.stderr)")
        }
        let differences = treeDifferences(a, b, ignoring: ResumeTests.notCompared)
        #expect(differences.isEmpty, "after resuming at 2 ranks: \(differences.joined(separator: "; "))")
    }

    /// A run whose state names a checkpoint that is gone while the phase's model is saved (what a version
    /// that deleted the checkpoint before recording the end of the phase left after a kill there) resumes
    /// from that model to the files of an uninterrupted run; with neither, the error names both.
    @Test func aMissingCheckpointIsNotFatalWhenThePhaseModelExists() throws {
        let whole = ResumeTests.dir.appendingPathComponent("legacy-whole").path, cut = ResumeTests.dir.appendingPathComponent("legacy-cut").path
        let args = ["schedule.control.enabled=false"]
        #expect(try runOnce(whole, args).status == 0)
        let x = try runOnce(cut, args, kill: "initial-0-sft/final/saved")
        #expect(x.stderr.contains("killing at initial-0-sft/final/saved"))
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(cut)/state.json"))) as! [String: Any]
        let named = try #require((state["checkpoint"] as? [String: Any])?["directory"] as? String)
        #expect(named == "initial/checkpoint-000148")
        try FileManager.default.removeItem(atPath: "\(cut)/\(named)")
        let resumed = try runOnce(cut, args + ["--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("which is gone, but the phase's model initial/model is saved"), "\(resumed.stderr)")
        let differences = treeDifferences(whole, cut, ignoring: ResumeTests.notCompared)
        #expect(differences.isEmpty, "\(differences.joined(separator: "; "))")

        let gone = ResumeTests.dir.appendingPathComponent("legacy-gone").path
        _ = try runOnce(gone, args, kill: "initial-0-sft/step/30")
        let s2 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(gone)/state.json"))) as! [String: Any]
        let cp = try #require((s2["checkpoint"] as? [String: Any])?["directory"] as? String)
        try FileManager.default.removeItem(atPath: "\(gone)/\(cp)")
        let refused = try runOnce(gone, args + ["--resume"])
        #expect(refused.status != 0 && refused.stderr.contains("\(cp), which does not exist") && refused.stderr.contains("state.json"), "\(refused.stderr)")
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
          max_operands: 2
          max_value: 9
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
        // An eval_size larger than the file is refused (validate reads the files); the file's 10 problems are asked for.
        let short = try autodidact(["validate", path])
        #expect(short.status != 0 && short.stderr.contains("gsm-eval.jsonl: 10 problems, fewer than data.eval_size 24"), "\(short.stderr)")
        let r = try autodidact(["run", path, "run.output_dir=\(out)", "data.eval_size=10", "schedule.initial.0.sft.max_steps=20", "schedule.initial.0.sft.min_steps=20"])
        #expect(r.status == 0, "\(r.stderr)")
        let e = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/round-01/evaluation.json"))) as! [String: Any]
        #expect((e["correct"] as! [Bool]).count == 10)
        // A line without '#### N' is refused, naming the file and the line.
        try (String(contentsOfFile: trainFile, encoding: .utf8) + "{\"question\": \"q\", \"answer\": \"no final answer\"}\n").write(toFile: trainFile, atomically: true, encoding: .utf8)
        let bad = try autodidact(["run", path, "run.output_dir=\(out)-bad"])
        #expect(bad.status != 0 && bad.stderr.contains("gsm-train.jsonl:61"), "\(bad.stderr)")
    }


    /// One process writes the same bytes in every file, optimizer states included, at 1, 2 and 3 threads,
    /// with busy processes beside it.
    @Test func oneProcessWritesTheSameBytesAtOneTwoAndThreeThreads() throws {
        let runs = (1...3).map { ResumeTests.dir.appendingPathComponent("threads-\($0)").path }
        try withCPUHogs {
            for (k, out) in runs.enumerated() {
                let r = try runOnce(out, threads: k + 1)
                #expect(r.status == 0, "\(r.stderr)")
            }
        }
        for k in 1...2 {
            let differences = treeDifferences(runs[0], runs[k], ignoring: ResumeTests.notCompared)
            #expect(differences.isEmpty, "1 and \(k + 1) threads: \(differences.joined(separator: "; "))")
        }
    }

    /// With `run.reduction_shards: 2` one process sums each batch's gradient as two ranks do, so a 1-process
    /// run (3 threads) and a 2-rank run (2 threads per rank) write the same bytes in every file, optimizer
    /// states included, with busy processes beside them.
    @Test func oneProcessWithTwoReductionShardsEqualsTwoRanks() throws {
        let one = ResumeTests.dir.appendingPathComponent("shards-np1").path, two = ResumeTests.dir.appendingPathComponent("shards-np2").path
        try withCPUHogs {
            let r1 = try runOnce(one, ["run.reduction_shards=2"], threads: 3)
            #expect(r1.status == 0, "\(r1.stderr)")
            let r2 = try mpirun(two, ["run.reduction_shards=2"], threads: 2)
            #expect(r2.status == 0, "\(r2.stderr)")
        }
        let differences = treeDifferences(one, two, ignoring: ResumeTests.notCompared)
        #expect(differences.isEmpty, "1 process and 2 ranks: \(differences.joined(separator: "; "))")
        #expect(FileManager.default.fileExists(atPath: "\(two)/round-01/model/optimizer.safetensors"), "the round should train")
        // Without it the two differ (the sums are taken in another order), so the test above can fail.
        let plain = ResumeTests.dir.appendingPathComponent("shards-plain").path
        #expect(try runOnce(plain).status == 0)
        #expect(fileDifference("\(plain)/initial/model/model.safetensors", "\(two)/initial/model/model.safetensors") != nil)
    }
}
