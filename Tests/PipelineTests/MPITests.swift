import Testing
import Foundation
import Model
import TestSupport

/// Runs under `mpirun` (oversubscribed, allowed as root): the communicator, sharded generation, data-parallel
/// training and failure handling.
@Suite(.serialized) struct MPITests {
    static let env = ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_rmaps_base_oversubscribe": "1"]
    static let dir = Paths.temporaryDirectory("mpi")

    /// `mpirun -np N autodidact ARGS` (or `mpirun -np N ARGS` when `executable` is false, to pass mpirun options).
    func mpirun(_ np: Int, _ args: [String], env: [String: String] = [:], executable: Bool = true) throws -> (RunResult, Double) {
        let start = Date()
        let r = try run(["mpirun", "--oversubscribe", "-np", "\(np)"] + (executable ? [Paths.executable.path] : []) + args,
                        environment: MPITests.env.merging(env) { $1 })
        return (r, Date().timeIntervalSince(start))
    }

    static func model() throws -> String { try pretrainedMicroModel(in: dir) }

    @Test func everyCommunicatorOperationAgreesAcrossRanks() throws {
        for np in [2, 3] {
            let (r, _) = try mpirun(np, ["mpi-check"])
            #expect(r.status == 0 && r.stdout.contains("mpi-check: \(np) rank(s), all operations agree"), "\(r.stdout) \(r.stderr)")
        }
    }

    @Test func shardedGenerationIsByteIdenticalForOneTwoAndThreeRanks() throws {
        let model = try MPITests.model()
        let prompts = MPITests.dir.appendingPathComponent("prompts.jsonl")
        try ["The keeper", "In the", "Ten ships came", "A", "Snow lay on the", "B"].map { "{\"prompt\": \"\($0)\"}" }
            .joined(separator: "\n").write(to: prompts, atomically: true, encoding: .utf8)
        var files: [Data] = []
        // 1, 2 and 3 ranks at 3, 2 and 1 threads each, with busy processes beside them.
        try withCPUHogs {
            for (np, chunk) in [(1, 4), (2, 2), (3, 3)] {
                let out = MPITests.dir.appendingPathComponent("gen-\(np).jsonl")
                let (r, _) = try mpirun(np, ["-x", "AUTODIDACT_THREADS", Paths.executable.path, "generate", "--model", model, "--prompts", prompts.path,
                                             "--samples", "3", "--temperature", "0.9", "--top-p", "0.95", "--max-new-tokens", "20", "--seed", "4",
                                             "--batch-size", "4", "--chunk-size", "\(chunk)", "--output", out.path],
                                        env: ["AUTODIDACT_THREADS": "\(4 - np)"], executable: false)
                #expect(r.status == 0, "np \(np): \(r.stderr)")
                files.append(try Data(contentsOf: out))
            }
        }
        #expect(files[0].count > 100 && byteDifference(files[0], files[1]) == nil && byteDifference(files[0], files[2]) == nil)
    }

    @Test func tenDataParallelStepsMatchOneProcess() throws {
        var weights: [[Float]] = []
        for np in [1, 2] {
            let out = MPITests.dir.appendingPathComponent("dp-\(np)")
            let (r, _) = try mpirun(np, ["pretrain", "--shape", "micro", "--steps", "10", "--batch", "6", "--seq", "32",
                                         "--lr", "1e-2", "--seed", "3", "--output", out.path])
            #expect(r.status == 0, "np \(np): \(r.stderr)")
            let m = try Checkpoint.load(path: out.path).model
            weights.append(m.params.array)
        }
        let scale = weights[0].map(abs).max()!
        var worst: Float = 0
        for (a, b) in zip(weights[0], weights[1]) { worst = max(worst, abs(a - b)) }
        #expect(worst / scale < 1e-5, "relative difference \(worst / scale)")
        #expect(weights[0] != LlamaModel.randomlyInitialised(config: LlamaConfig.named("micro", vocabSize: 259)!, seed: 3).params.array)
    }

    @Test func aFailingWorkerEndsTheJobNamingTheRank() throws {
        let model = try MPITests.model()
        let prompts = MPITests.dir.appendingPathComponent("prompts-fail.jsonl")
        try (0..<8).map { "{\"prompt\": \"p\($0)\"}" }.joined(separator: "\n").write(to: prompts, atomically: true, encoding: .utf8)
        // A worker that throws: rank 0 reports it and the job ends.
        let (thrown, t1) = try mpirun(3, ["generate", "--model", model, "--prompts", prompts.path, "--max-new-tokens", "8",
                                          "--output", MPITests.dir.appendingPathComponent("never.jsonl").path],
                                      env: ["AUTODIDACT_FAIL_RANK": "1", "AUTODIDACT_FAIL_AT": "generate"])
        #expect(thrown.status != 0 && t1 < 30)
        #expect(thrown.stderr.contains("rank 0: rank 1 failed: injected failure"), "\(thrown.stderr)")
        #expect(!FileManager.default.fileExists(atPath: MPITests.dir.appendingPathComponent("never.jsonl").path))
        // A worker killed in the middle of training.
        let (killed, t2) = try mpirun(3, ["pretrain", "--shape", "micro", "--steps", "10", "--batch", "6", "--seq", "32"],
                                      env: ["AUTODIDACT_FAIL_RANK": "2", "AUTODIDACT_FAIL_AT": "trainStep", "AUTODIDACT_FAIL_MODE": "kill"])
        #expect(killed.status != 0 && t2 < 30)
        #expect((killed.stderr + killed.stdout).contains("rank 2") && (killed.stderr + killed.stdout).contains("signal 9"), "\(killed.stderr)")
    }
}
