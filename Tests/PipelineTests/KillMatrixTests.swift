import Testing
import Foundation
import Pipeline
import TestSupport

/// The kill matrix: ResumeTests' micro run (SFT, one round of generate, judge, pairs, IRPO, evaluate, and a
/// control) killed with SIGKILL at seeded moments spread over every phase, each followed by `--resume`,
/// must end with every file byte-identical to the uninterrupted run's. Moments are points of the work (the
/// run's own list of the points it passes, `AUTODIDACT_POINTS_LOG`), not times. At 1 rank the coordinator
/// is killed; at 2 ranks the coordinator and a worker alternately (a worker at its N-th command). `make
/// test` runs a small matrix; `AUTODIDACT_KILL_MATRIX=20` runs 20 kills at each world size
/// (docs/reliability.md records that run).
@Suite(.serialized) struct KillMatrixTests {
    static let dir = Paths.temporaryDirectory("kill-matrix")
    static let size = ProcessInfo.processInfo.environment["AUTODIDACT_KILL_MATRIX"].flatMap(Int.init)

    /// `count` points drawn by a seeded stream, phase after phase in turn (so every phase is hit), each
    /// uniformly among that phase's points.
    static func draw(_ points: [String], count: Int, seed: UInt64) -> [String] {
        var phases: [String] = [], byPhase: [String: [String]] = [:]
        for p in points {
            let phase = String(p.split(separator: "/")[0])
            if byPhase[phase] == nil { phases.append(phase) }
            byPhase[phase, default: []].append(p)
        }
        var rng = TestRNG(seed)
        return (0..<count).map { i in
            let candidates = byPhase[phases[i % phases.count]]!
            return candidates[Int(rng.next() % UInt64(candidates.count))]
        }
    }

    static func points(_ log: URL) throws -> [String] {
        try String(contentsOf: log, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    func run(_ out: URL, _ extra: [String] = [], env: [String: String] = [:], ranks: Int = 1) throws -> RunResult {
        let args = ["run", try ResumeTests.configPath(), "run.output_dir=\(out.path)", "run.reduction_shards=2"] + extra
        if ranks == 1 { return try autodidact(args, environment: env) }
        var mpi = ["mpirun", "--oversubscribe", "-np", "\(ranks)"]
        for key in env.keys.sorted() { mpi += ["-x", key] }
        return try TestSupport.run(mpi + [Paths.executable.path] + args, environment: MPITests.env.merging(env) { $1 })
    }

    @Test func oneRankKilledAtSeededPointsResumesToTheSameBytes() throws {
        let whole = Self.dir.appendingPathComponent("whole"), log = Self.dir.appendingPathComponent("points-1.log")
        for u in [whole, log] { try? FileManager.default.removeItem(at: u) }
        #expect(try run(whole, env: ["AUTODIDACT_POINTS_LOG": log.path]).status == 0)
        let picks = Self.draw(try Self.points(log), count: Self.size ?? 6, seed: 1)
        var identical = 0
        for (k, point) in picks.enumerated() {
            let out = Self.dir.appendingPathComponent("one-\(k)")
            try? FileManager.default.removeItem(at: out)
            let killed = try run(out, env: ["AUTODIDACT_KILL_AT": point])
            #expect(killed.status != 0, "\(point): the run was not killed")
            let resumed = try run(out, ["--resume"])
            #expect(resumed.status == 0, "\(point): \(resumed.stderr)")
            let differences = treeDifferences(whole.path, out.path, ignoring: ResumeTests.notCompared)
            #expect(differences.isEmpty, "\(point): \(differences)")
            if resumed.status == 0 && differences.isEmpty { identical += 1 }
        }
        print("kill matrix, 1 rank: \(identical) of \(picks.count) identical after --resume (points: \(picks.joined(separator: ", ")))")
    }

    @Test func twoRanksKilledAtSeededPointsResumeToTheSameBytes() throws {
        let whole = Self.dir.appendingPathComponent("whole-2"), log = Self.dir.appendingPathComponent("points-2.log")
        for u in [whole, log] { try? FileManager.default.removeItem(at: u) }
        #expect(try run(whole, env: ["AUTODIDACT_POINTS_LOG": log.path], ranks: 2).status == 0)
        let all = try Self.points(log)
        let coordinator = all.filter { !$0.hasPrefix("worker-") }, commands = all.filter { $0.hasPrefix("worker-1/") }.count
        let count = Self.size ?? 4
        let coordinatorPicks = Self.draw(coordinator, count: (count + 1) / 2, seed: 2)
        var rng = TestRNG(3)
        var identical = 0, report: [String] = []
        for k in 0..<count {
            let out = Self.dir.appendingPathComponent("two-\(k)")
            try? FileManager.default.removeItem(at: out)
            let env: [String: String], what: String
            if k % 2 == 0 {
                what = coordinatorPicks[k / 2]
                env = ["AUTODIDACT_KILL_AT": what]
            } else {
                let n = 2 + Int(rng.next() % UInt64(commands - 2))  // not the first (the model) nor the shutdown
                what = "worker-1/command/\(n)"
                env = ["AUTODIDACT_FAIL_RANK": "1", "AUTODIDACT_FAIL_MODE": "kill", "AUTODIDACT_FAIL_AFTER": "\(n)"]
            }
            let killed = try run(out, env: env, ranks: 2)
            #expect(killed.status != 0, "\(what): the job did not end")
            if k % 2 == 1 {
                // Named by rank 0 with what the job was doing, and by mpirun.
                #expect(killed.stderr.contains("error: rank 0: rank 1 (pid ") && killed.stderr.contains("ended without a word during "),
                        "\(what): the job's end should name rank 1 and the phase: \(killed.stderr)")
            }
            let resumed = try run(out, ["--resume"], ranks: 2)
            #expect(resumed.status == 0, "\(what): \(resumed.stderr)")
            let differences = treeDifferences(whole.path, out.path, ignoring: ResumeTests.notCompared)
            #expect(differences.isEmpty, "\(what): \(differences)")
            if resumed.status == 0 && differences.isEmpty { identical += 1 }
            report.append(what)
        }
        print("kill matrix, 2 ranks: \(identical) of \(count) identical after --resume (points: \(report.joined(separator: ", ")))")
    }
}
