import Testing
import Foundation
import Model
import Pipeline
import TestSupport

/// What users and clusters do to a run: preemption by a signal, a second run on the same folder, a folder
/// moved elsewhere, a learning rate that blows training up, a full disk (ResumeTests' micro configuration).
@Suite(.serialized) struct SurvivalTests {
    static let dir = Paths.temporaryDirectory("survival")

    func run(_ out: URL, _ extra: [String] = [], kill: String? = nil) throws -> RunResult {
        try autodidact(["run", try ResumeTests.configPath(), "run.output_dir=\(out.path)"] + extra,
                       environment: kill.map { ["AUTODIDACT_KILL_AT": $0] } ?? [:])
    }

    /// A run killed after its generate phase, its folder moved, resumed under the new name: the output
    /// location is not part of the configuration's identity, and the run ends with the bytes of one that
    /// was never interrupted or moved.
    /// The configuration run once without interruption, the reference of the tests that resume.
    func whole() throws -> URL {
        let whole = Self.dir.appendingPathComponent("whole")
        if !FileManager.default.fileExists(atPath: whole.appendingPathComponent("summary.md").path) {
            try? FileManager.default.removeItem(at: whole)
            let r = try run(whole)
            #expect(r.status == 0, "\(r.stderr)")
        }
        return whole
    }

    /// The same with `run.reduction_shards: 2`, which 2 ranks train alike.
    func wholeTwoShards() throws -> URL {
        let one = Self.dir.appendingPathComponent("shards-one")
        if !FileManager.default.fileExists(atPath: one.appendingPathComponent("summary.md").path) {
            try? FileManager.default.removeItem(at: one)
            #expect(try run(one, ["run.reduction_shards=2"]).status == 0)
        }
        return one
    }

    @Test func aMovedRunFolderResumes() throws {
        let whole = try whole(), first = Self.dir.appendingPathComponent("first"), moved = Self.dir.appendingPathComponent("elsewhere/moved")
        for d in [first, moved] { try? FileManager.default.removeItem(at: d) }
        let k = try run(first, kill: "round-1-0-generate/done")
        #expect(k.status != 0)
        try FileManager.default.createDirectory(at: moved.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: first, to: moved)
        let r = try run(moved, ["--resume"])
        #expect(r.status == 0, "\(r.stderr)")
        let differences = treeDifferences(whole.path, moved.path, ignoring: ResumeTests.notCompared)
        #expect(differences.isEmpty, "\(differences)")
        // A changed setting is still a different configuration.
        let changed = try run(moved, ["--resume", "data.eval_size=20"])
        #expect(changed.status != 0 && changed.stderr.contains("changed: data.eval_size"), "\(changed.stderr)")
    }

    /// While a run holds its folder (here stopped with SIGSTOP), a second run on it is refused with a message
    /// naming the holder's process; once the holder is dead its lock is gone and `--resume` finishes the run.
    @Test func aSecondRunOnTheSameFolderIsRefused() throws {
        let out = Self.dir.appendingPathComponent("locked")
        try? FileManager.default.removeItem(at: out)
        let holder = Process()
        holder.executableURL = Paths.executable
        holder.arguments = ["run", try ResumeTests.configPath(), "run.output_dir=\(out.path)"]
        holder.standardOutput = FileHandle.nullDevice
        holder.standardError = FileHandle.nullDevice
        try holder.run()
        // Wait until it holds the lock and has started (its state file exists), then freeze it.
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: out.appendingPathComponent("state.json").path) && Date() < deadline { usleep(20_000) }
        kill(holder.processIdentifier, SIGSTOP)
        defer { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() }
        for extra in [[], ["--resume"]] {
            let second = try run(out, extra)
            #expect(second.status == 1)
            #expect(second.stderr.contains("is in use by another run (process \(holder.processIdentifier) on "), "\(second.stderr)")
        }
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        let resumed = try run(out, ["--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
    }

    /// SFT at a learning rate of 10 with weight decay 1 (each step multiplies the weights by -9): the run stops at the first step whose loss or gradient is not finite,
    /// naming the phase and the step; the weights were not updated by it, the last checkpoint (every 4 steps)
    /// stays recorded and holds finite weights, and no model of the phase is saved.
    @Test func aNonFiniteStepStopsTrainingAndKeepsTheLastCheckpoint() throws {
        let out = Self.dir.appendingPathComponent("nan")
        try? FileManager.default.removeItem(at: out)
        let r = try run(out, ["schedule.initial.0.sft.lr=10", "schedule.initial.0.sft.weight_decay=1"])
        #expect(r.status == 1)
        let found = r.stderr.range(of: #"initial-0-sft: step [0-9]+ of 150 has a non-finite loss or gradient"#, options: .regularExpression)
        #expect(found != nil, "\(r.stderr)")
        let step = found.map { Int(r.stderr[$0].split(separator: " ")[2]) ?? 0 } ?? 0
        #expect(r.stderr.contains("train.on_nonfinite is stop"))
        let status = try autodidact(["status", out.path])
        #expect(status.stdout.contains("\(out.path): stopped, non-finite loss during initial-0-sft"), "\(status.stdout)")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("initial/model").path))
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("state.json"))) as! [String: Any]
        let checkpoint = state["checkpoint"] as? [String: Any]
        if step > 4 {
            let saved = try #require(checkpoint?["directory"] as? String)
            #expect((checkpoint?["step"] as? Int).map { $0 < step && $0 % 4 == 0 } == true)
            let weights = try Checkpoint.load(path: out.appendingPathComponent(saved).path).model.params.array
            #expect(weights.allSatisfy { $0.isFinite })
        }
        // pretrain and preference-train refuse to save a model trained into NaN.
        let model = Self.dir.appendingPathComponent("nan-pretrained")
        try? FileManager.default.removeItem(at: model)
        let p = try autodidact(["pretrain", "--shape", "micro", "--steps", "40", "--lr", "1000000", "--output", model.path])
        #expect(p.status == 1 && p.stderr.contains("has a non-finite loss or gradient"), "\(p.stderr)")
        #expect(!FileManager.default.fileExists(atPath: model.path))
    }

    /// With `on_nonfinite: skip` the steps are skipped and counted until more than `max_skipped` were.
    @Test func skippedStepsAreCountedUpToTheLimit() throws {
        let out = Self.dir.appendingPathComponent("nan-skip")
        try? FileManager.default.removeItem(at: out)
        let r = try run(out, ["schedule.initial.0.sft.lr=10", "schedule.initial.0.sft.weight_decay=1", "schedule.initial.0.sft.on_nonfinite=skip", "schedule.initial.0.sft.max_skipped=3"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("more than train.max_skipped = 3 steps skipped"), "\(r.stderr)")
        #expect(r.stderr.components(separatedBy: "step skipped (").count - 1 == 3, "\(r.stderr)")
        let bad = try autodidact(["validate", try ResumeTests.configPath(), "schedule.initial.0.sft.max_skipped=3"])
        #expect(bad.status != 0 && bad.stderr.contains("max_skipped") && bad.stderr.contains("on_nonfinite: skip"), "\(bad.stderr)")
    }

    /// A run on a 256 KiB file system (tmpfs; skipped where mounting is not allowed) stops at its first
    /// checkpoint with an error naming the file and the full disk, leaves no temporary file, and, its folder
    /// copied to a bigger disk, resumes there to the bytes of an uninterrupted run.
    @Test func aFullDiskStopsTheRunAndItResumesOnABiggerOne() throws {
        let small = Self.dir.appendingPathComponent("small-disk")
        try? FileManager.default.createDirectory(at: small, withIntermediateDirectories: true)
        let mount = try TestSupport.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", small.path])
        guard mount.status == 0 else {
            print("aFullDiskStopsTheRunAndItResumesOnABiggerOne: skipped, cannot mount a tmpfs here (\(mount.stderr.trimmingCharacters(in: .whitespacesAndNewlines)))")
            return
        }
        defer { _ = try? TestSupport.run(["umount", small.path]) }
        let out = small.appendingPathComponent("run")
        let r = try run(out)
        #expect(r.status == 1)
        #expect(r.stderr.contains("no space left on the device") && r.stderr.contains(out.path), "\(r.stderr)")
        let left = FileManager.default.enumerator(atPath: out.path)?.allObjects.compactMap { $0 as? String }.filter { $0.contains(".tmp-") } ?? []
        #expect(left.isEmpty, "\(left)")
        let bigger = Self.dir.appendingPathComponent("from-small-disk")
        try? FileManager.default.removeItem(at: bigger)
        try FileManager.default.copyItem(at: out, to: bigger)
        let resumed = try run(bigger, ["--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let differences = treeDifferences(try whole().path, bigger.path, ignoring: ResumeTests.notCompared)
        #expect(differences.isEmpty, "\(differences)")
    }

    /// SIGTERM at a point of the work (`AUTODIDACT_SIGNAL_AT` sends it there): the run saves the unit in
    /// progress and exits with status 75 at once (within the step or the generation chunk), and `--resume`
    /// ends with the bytes of an uninterrupted run. On one process in SFT, in preference training, in
    /// generation and in an evaluation; under mpirun -np 2 in preference training, in generation and in an
    /// evaluation (the chunks the worker holds are collected and saved first), and on the worker alone in
    /// training and in generation, beside busy processes.
    @Test func aSignalStopsTheRunAtTheNextBoundaryAndItResumesToTheSameBytes() throws {
        let whole = try whole()
        for point in ["initial-0-sft/step/7", "round-1-3-train/step/3", "round-1-0-generate/chunk/2", "round-1-2-pairs/call-0000/chunk-000000",
                      "round-1-4-evaluate/chunk/1"] {
            let out = Self.dir.appendingPathComponent("signalled-" + point.replacingOccurrences(of: "/", with: "-"))
            try? FileManager.default.removeItem(at: out)
            let r = try autodidact(["run", try ResumeTests.configPath(), "run.output_dir=\(out.path)"], environment: ["AUTODIDACT_SIGNAL_AT": point])
            #expect(r.status == 75, "\(point): \(r.stderr)")
            #expect(r.stderr.contains("stopped on request (SIGTERM or SIGUSR1) at"), "\(r.stderr)")
            let key = String(point.split(separator: "/")[0]), n = Int(point.split(separator: "/").last!.filter(\.isNumber))!
            let state = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("state.json"))) as! [String: Any]
            if point.contains("/step/") {
                // The checkpoint of the very step the signal came in.
                let checkpoint = state["checkpoint"] as? [String: Any]
                #expect(checkpoint?["phase"] as? String == key && checkpoint?["step"] as? Int == n, "\(state)")
            } else {
                let partial = point.hasPrefix("round-1-0-generate") ? "round-01/generations.partial"
                    : point.hasPrefix("round-1-2-pairs") ? "round-01/pairs.partial/call-0000" : "round-01/evaluation.partial"
                let chunks = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent(partial).path)
                #expect(chunks.sorted().last == String(format: "chunk-%06d.json", n), "\(chunks)")
            }
            let resumed = try run(out, ["--resume"])
            #expect(resumed.status == 0, "\(resumed.stderr)")
            let differences = treeDifferences(whole.path, out.path, ignoring: ResumeTests.notCompared)
            #expect(differences.isEmpty, "\(point): \(differences)")
        }
        // Two ranks, gradients summed as two shards in both runs.
        let one = try wholeTwoShards(), two = Self.dir.appendingPathComponent("shards-two-signalled")
        try? FileManager.default.removeItem(at: two)
        func mpirun(_ extra: [String], signal: String?) throws -> RunResult {
            var args = ["mpirun", "--oversubscribe", "-np", "2"], env = MPITests.env
            if signal == "worker" {
                env.merge(["AUTODIDACT_FAIL_RANK": "1", "AUTODIDACT_FAIL_MODE": "signal", "AUTODIDACT_FAIL_AFTER": "30"]) { $1 }
                args += ["-x", "AUTODIDACT_FAIL_RANK", "-x", "AUTODIDACT_FAIL_MODE", "-x", "AUTODIDACT_FAIL_AFTER"]
            } else if signal == "worker-generating" {
                // At the worker's first generation command (SFT's validation pass after step 50): its reply
                // tells rank 0, which stops after that step (the step's all-reduce would tell it one step later).
                env.merge(["AUTODIDACT_FAIL_RANK": "1", "AUTODIDACT_FAIL_MODE": "signal", "AUTODIDACT_FAIL_AT": "generate"]) { $1 }
                args += ["-x", "AUTODIDACT_FAIL_RANK", "-x", "AUTODIDACT_FAIL_MODE", "-x", "AUTODIDACT_FAIL_AT"]
            } else if let signal { args += ["-x", "AUTODIDACT_SIGNAL_AT"]; env["AUTODIDACT_SIGNAL_AT"] = signal }
            return try TestSupport.run(args + [Paths.executable.path, "run", try ResumeTests.configPath(), "run.output_dir=\(two.path)",
                                               "run.reduction_shards=2"] + extra, environment: env)
        }
        // The signal on the coordinator at two points, then on the worker only (at its 30th command, in SFT):
        // the step's all-reduce tells rank 0.
        for point in ["round-1-3-train/step/3", "round-1-0-generate/chunk/2", "initial-evaluate/chunk/1", "worker", "worker-generating"] {
            try? FileManager.default.removeItem(at: two)
            let stopped = try withCPUHogs { try mpirun([], signal: point) }
            #expect(stopped.status == 75, "\(point): \(stopped.stderr)")
            if point == "worker-generating" { #expect(stopped.stderr.contains("at initial-0-sft, step 50 of 150"), "\(stopped.stderr)") }
            let resumed = try withCPUHogs { try mpirun(["--resume"], signal: nil) }
            #expect(resumed.status == 0, "\(point): \(resumed.stderr)")
            let differences = treeDifferences(one.path, two.path, ignoring: ResumeTests.notCompared)
            #expect(differences.isEmpty, "\(point): \(differences)")
        }
    }

    /// cluster/slurm.sbatch outside Slurm, at 2 ranks: SIGUSR1 to the script (as `--signal=B:USR1` sends it)
    /// once the run has started its SFT is forwarded through mpirun to the ranks, the job exits with 75, and
    /// the script run again (it adds --resume) finishes the run to the bytes of an uninterrupted one.
    @Test func theSlurmScriptForwardsThePreemptionSignal() throws {
        let one = try wholeTwoShards(), out = Self.dir.appendingPathComponent("slurm")
        try? FileManager.default.removeItem(at: out)
        let script = Paths.repo.appendingPathComponent("cluster/slurm.sbatch").path
        let env = MPITests.env.merging(["SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "2"]) { $1 }
        let args = ["run", try ResumeTests.configPath(), "run.output_dir=\(out.path)", "run.reduction_shards=2"]
        // A process started by the test runner may inherit SIGUSR1 blocked or ignored, and bash cannot trap a
        // signal ignored at its start; sbatch starts the script with the defaults, as python3 sets them here.
        let job = Process()
        job.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        job.arguments = ["python3", "-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); "
                         + "[signal.signal(s, signal.SIG_DFL) for s in (signal.SIGUSR1, signal.SIGTERM)]; os.execv('/bin/bash', ['bash'] + sys.argv[1:])",
                         script] + args
        job.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        job.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        job.standardError = err
        try job.run()
        // Wait for work, not time: the first SFT checkpoint recorded.
        let state = out.appendingPathComponent("state.json")
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline && !((try? String(contentsOf: state, encoding: .utf8))?.contains("checkpoint-0") ?? false) { usleep(20_000) }
        kill(job.processIdentifier, SIGUSR1)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        job.waitUntilExit()
        #expect(job.terminationStatus == 75, "\(stderr)")
        #expect(stderr.contains("stopped on request"), "\(stderr)")
        let again = try TestSupport.run(["/bin/bash", script] + args, environment: env)
        #expect(again.status == 0, "\(again.stderr)")
        let differences = treeDifferences(one.path, out.path, ignoring: ResumeTests.notCompared)
        #expect(differences.isEmpty, "\(differences)")
    }

    /// A worker that fails inside a phase: rank 0 names the rank and the phase in its own words before the
    /// job ends.
    @Test func aFailingWorkerIsNamedWithThePhase() throws {
        let out = Self.dir.appendingPathComponent("failing-worker")
        try? FileManager.default.removeItem(at: out)
        let env = MPITests.env.merging(["AUTODIDACT_FAIL_RANK": "1", "AUTODIDACT_FAIL_AT": "generate"]) { $1 }
        let r = try TestSupport.run(["mpirun", "--oversubscribe", "-np", "2", "-x", "AUTODIDACT_FAIL_RANK", "-x", "AUTODIDACT_FAIL_AT",
                                     Paths.executable.path, "run", try ResumeTests.configPath(), "run.output_dir=\(out.path)"], environment: env)
        #expect(r.status != 0)
        #expect(r.stderr.contains("rank 0: rank 1 failed during initial-0-sft: injected failure"), "\(r.stderr)")
    }
}
