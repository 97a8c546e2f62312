import Testing
import Foundation
import Model
import TestSupport

/// LoRA adapters and ZeRO-1 end to end: the command line, the PEFT layout on disk, ZeRO against
/// replicated AdamW at 2 and 3 ranks, and a LoRA + ZeRO run killed and resumed at 1, 2 and 3 ranks.
@Suite(.serialized) struct LoRAZeROTests {
    static let dir = Paths.temporaryDirectory("lora-zero")

    func mpirun(_ np: Int, _ args: [String], env extra: [String: String] = [:]) throws -> RunResult {
        var env = MPITests.env, pass: [String] = []
        for (k, v) in extra { env[k] = v; pass += ["-x", k] }
        return try run(["mpirun", "--oversubscribe", "-np", "\(np)"] + pass + [Paths.executable.path] + args, environment: env)
    }

    static func relativeDifference(_ a: [Float], _ b: [Float]) -> Float {
        let scale = a.map(abs).max()!
        var worst: Float = 0
        for (x, y) in zip(a, b) { worst = max(worst, abs(x - y)) }
        return worst / scale
    }

    /// Ten full fine-tuning steps with the moments sharded equal the replicated run's within 1e-6 relative at
    /// 2 and 3 ranks; the runs' replica checksums (compared at step 10) agree, or the run would fail.
    @Test func zeroOneMatchesReplicatedAdamWAtTwoAndThreeRanks() throws {
        for np in [2, 3] {
            var weights: [[Float]] = []
            for zero in [0, 1] {
                let out = LoRAZeROTests.dir.appendingPathComponent("pretrain-\(np)-\(zero)").path
                let r = try mpirun(np, ["pretrain", "--shape", "micro", "--steps", "10", "--batch", "6", "--seq", "32", "--lr", "1e-2",
                                        "--seed", "3", "--zero", "\(zero)", "--output", out])
                #expect(r.status == 0, "np \(np) zero \(zero): \(r.stderr)")
                weights.append(try Checkpoint.load(path: out).model.params.array)
            }
            let d = LoRAZeROTests.relativeDifference(weights[0], weights[1])
            #expect(d < 1e-6, "np \(np): ZeRO-1 differs from replicated by \(d) relative")
        }
        let bad = try autodidact(["pretrain", "--shape", "micro", "--steps", "1", "--zero", "2"])
        #expect(bad.status != 0 && bad.stderr.contains("--zero must be 0 or 1"))
    }

    func pairsFile() throws -> String {
        let dpo = (try loadJSON(Paths.nanoLlama.appendingPathComponent("reference.json")) as! [String: Any])["dpo"] as! [String: Any]
        let p = dpo["prompt_ids"] as! [Int], c = dpo["chosen_completion_ids"] as! [Int], rj = dpo["rejected_completion_ids"] as! [Int]
        let lines = (0..<8).map { k in
            "{\"prompt_ids\": \(p.map { ($0 + k) % 512 }), \"chosen_ids\": \(c.map { ($0 + 3 * k) % 512 }), \"rejected_ids\": \(rj.map { ($0 + 5 * k) % 512 })}"
        }
        return try writeFile(lines.joined(separator: "\n"), in: LoRAZeROTests.dir, "pairs8.jsonl")
    }

    /// `preference-train --lora-rank` trains adapters only and writes them in PEFT's layout; under ZeRO-1 at 2
    /// ranks the adapters equal the one-process run's; `convert` merges them into a model that scores as the
    /// adapter path does.
    @Test func preferenceTrainWritesPEFTAdaptersAndConvertMergesThem() throws {
        let pairs = try pairsFile()
        var adapters: [[Float]] = []
        for (np, zero) in [(1, 0), (2, 0), (2, 1)] {
            let out = LoRAZeROTests.dir.appendingPathComponent("dpo-lora-\(np)-\(zero)").path
            let r = try mpirun(np, ["preference-train", "--model", Paths.nanoLlama.path, "--pairs", pairs, "--loss", "dpo", "--lr", "5e-3",
                                    "--batch-size", "4", "--epochs", "5", "--lora-rank", "4", "--lora-targets", "q,v,down", "--zero", "\(zero)",
                                    "--output", out])
            #expect(r.status == 0, "np \(np): \(r.stderr)")
            let metrics = r.stdout.split(separator: "\n").filter { $0.hasPrefix("{") }.map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
            #expect(metrics.count == 10)
            #expect((metrics.last!["loss"] as! Double) < (metrics.first!["loss"] as! Double) - 0.05, "the loss should fall: \(metrics.map { $0["loss"]! })")
            let config = try loadJSON(URL(fileURLWithPath: out).appendingPathComponent("adapter_config.json")) as! [String: Any]
            #expect(config["r"] as? Int == 4 && config["lora_alpha"] as? Double == 8 && config["peft_type"] as? String == "LORA")
            #expect(config["target_modules"] as? [String] == ["q_proj", "v_proj", "down_proj"])
            #expect(config["base_model_name_or_path"] as? String == Paths.nanoLlama.standardizedFileURL.path)
            #expect(!FileManager.default.fileExists(atPath: out + "/model.safetensors"), "only the adapters are saved")
            let st = try SafetensorsFile(url: URL(fileURLWithPath: out).appendingPathComponent("adapter_model.safetensors"))
            let layers = try Checkpoint.load(path: Paths.nanoLlama.path).model.config.numLayers
            #expect(st.entries.count == layers * 6)
            #expect(st.entries["base_model.model.model.layers.0.mlp.down_proj.lora_B.weight"]?.shape.last == 4)
            let loaded = try Checkpoint.load(path: out).model
            let base = try Checkpoint.load(path: Paths.nanoLlama.path).model
            #expect(loaded.params.array == base.params.array, "the base weights are frozen")
            adapters.append(loaded.adapters!.params.array)
        }
        // ZeRO-1 against replicated AdamW at the same world size; two ranks against one process (whose
        // gradients sum in another order, which Adam's early steps amplify).
        let zeroVsReplicated = LoRAZeROTests.relativeDifference(adapters[1], adapters[2])
        #expect(zeroVsReplicated < 1e-6, "LoRA + ZeRO-1 at 2 ranks differs from replicated by \(zeroVsReplicated)")
        let ranks = LoRAZeROTests.relativeDifference(adapters[0], adapters[1])
        #expect(ranks < 1e-3, "LoRA at 2 ranks differs from one process by \(ranks)")
        let adapterDir = LoRAZeROTests.dir.appendingPathComponent("dpo-lora-1-0").path, merged = LoRAZeROTests.dir.appendingPathComponent("merged").path
        let c = try autodidact(["convert", adapterDir, merged])
        #expect(c.status == 0 && c.stderr.contains("LoRA adapters merged"), "\(c.stderr)")
        let seqs: [[Int32]] = [[1, 5, 9, 200, 31, 7, 7, 400], [3, 2, 1]]
        let viaAdapters = try Checkpoint.load(path: adapterDir).model.tokenLogProbs(seqs)
        let viaMerged = try Checkpoint.load(path: merged).model.tokenLogProbs(seqs)
        let viaBase = try Checkpoint.load(path: Paths.nanoLlama.path).model.tokenLogProbs(seqs)
        #expect(zip(viaAdapters.joined(), viaMerged.joined()).allSatisfy { abs($0 - $1) <= 1e-5 })
        #expect(zip(viaAdapters.joined(), viaBase.joined()).contains { abs($0 - $1) > 1e-3 }, "the adapters should have changed the model")
        let bad = try autodidact(["preference-train", "--model", Paths.nanoLlama.path, "--pairs", pairs, "--lora-rank", "4", "--lora-targets", "q,attn"])
        #expect(bad.status != 0 && bad.stderr.contains("unknown LoRA target 'attn'"), "\(bad.stderr)")
    }

    static let runConfig = ResumeTests.config
        .replacingOccurrences(of: "count: 1", with: "count: 2")
        .replacingOccurrences(of: "kind: correct_vs_incorrect", with: "kind: correct_vs_incorrect\n          reference: initial")
        .replacingOccurrences(of: "          loss: irpo", with: "          loss: irpo\n          zero: 1\n          lora: {rank: 4, targets: [q, v, o, down]}")
        .replacingOccurrences(of: "enabled: true", with: "enabled: false")
        // Round 2 has few pairs, and how many depends on the OpenBLAS kernel family (4 steps under the
        // Haswell and Zen kernels, more under SkylakeX): a checkpoint every 2 steps leaves one to resume from.
        .replacingOccurrences(of: "checkpoint_every: 3", with: "checkpoint_every: 2")

    func runPipeline(_ np: Int, _ out: String, _ extra: [String] = [], kill: String? = nil) throws -> RunResult {
        let config = LoRAZeROTests.dir.appendingPathComponent("lora.yaml").path
        if !FileManager.default.fileExists(atPath: config) { try LoRAZeROTests.runConfig.write(toFile: config, atomically: true, encoding: .utf8) }
        return try mpirun(np, ["run", config, "run.output_dir=\(out)"] + extra, env: kill.map { ["AUTODIDACT_KILL_AT": $0] } ?? [:])
    }

    /// A run whose rounds train LoRA adapters with ZeRO-1 at 2 ranks: each round saves PEFT adapters (the
    /// whole optimizer state beside them), round 2 continues round 1's adapters with the "initial" reference
    /// computed with the adapters off; killed mid-training, it resumes at 2 ranks to byte-identical files and
    /// at 1 and 3 ranks to the same adapters within 1e-5.
    @Test func aLoRAZeRORunResumesAtAnyWorldSize() throws {
        let a = LoRAZeROTests.dir.appendingPathComponent("run-whole").path
        let r = try runPipeline(2, a)
        #expect(r.status == 0, "\(r.stderr.suffix(3000))")
        for round in ["round-01", "round-02"] {
            let config = try loadJSON(URL(fileURLWithPath: "\(a)/\(round)/model/adapter_config.json")) as! [String: Any]
            #expect(config["base_model_name_or_path"] as? String == "../../initial/model", "\(round): the base, relative inside the run")
            #expect(!FileManager.default.fileExists(atPath: "\(a)/\(round)/model/model.safetensors"), "\(round)")
        }
        let adapterCount = try SafetensorsFile(url: URL(fileURLWithPath: "\(a)/round-02/model/adapter_model.safetensors")).entries.values.reduce(0) { $0 + $1.count }
        let optimizer = try SafetensorsFile(url: URL(fileURLWithPath: "\(a)/round-02/model/optimizer.safetensors"))
        #expect(optimizer.entries["exp_avg"]?.count == adapterCount, "the whole (gathered) moments of the adapters")
        // Round 2's reference log-probs are the SFT model's, though the policy carries round 1's adapters.
        let sft = try Checkpoint.load(path: "\(a)/initial/model").model
        let pair = try #require(try String(contentsOfFile: "\(a)/round-02/pairs.jsonl", encoding: .utf8).split(separator: "\n").first)
        let record = try JSONSerialization.jsonObject(with: Data(pair.utf8)) as! [String: Any]
        let prompt = (record["prompt_ids"] as! [Int]).map(Int32.init), chosen = (record["chosen_ids"] as! [Int]).map(Int32.init)
        let lp = try sft.tokenLogProbs([prompt + chosen])[0][(prompt.count - 1)...].reduce(0.0) { $0 + Double($1) }
        #expect(abs(lp - (record["ref_chosen_logps"] as! Double)) < 1e-3, "reference \(record["ref_chosen_logps"]!) vs the SFT model's \(lp)")

        let steps = try ResumeTests.steps(a, folder: "round-02", phase: "round-2-3-train")
        #expect(steps >= 4, "round 2 should train past its first checkpoint (every 2 steps) and a step beyond: \(steps) steps")
        let killed = LoRAZeROTests.dir.appendingPathComponent("run-killed").path
        let point = "round-2-3-train/step/\(steps - 1)"
        let k = try runPipeline(2, killed, kill: point)
        #expect(k.status != 0 && k.stderr.contains("killing at \(point)"), "\(k.stderr.suffix(2000))")
        let whole = try Checkpoint.load(path: "\(a)/round-02/model").model.adapters!.params.array
        for np in [1, 3, 2] {
            let copy = LoRAZeROTests.dir.appendingPathComponent("run-resumed-\(np)").path
            try? FileManager.default.removeItem(atPath: copy)
            try FileManager.default.copyItem(atPath: killed, toPath: copy)
            // A copy names another output directory than its config.yaml: --force says that is intended.
            let x = try withCPUHogs { try runPipeline(np, copy, ["--resume", "--force"]) }
            #expect(x.status == 0, "np \(np): \(x.stderr.suffix(2000))")
            let resumed = try Checkpoint.load(path: "\(copy)/round-02/model").model.adapters!.params.array
            let d = LoRAZeROTests.relativeDifference(whole, resumed)
            #expect(d < 1e-5, "resumed at \(np) rank(s): adapters differ by \(d)")
            if np == 2 {
                let differences = treeDifferences(a, copy, ignoring: ResumeTests.notCompared)
                #expect(differences.isEmpty, "after resuming at 2 ranks: \(differences.joined(separator: "; "))")
            }
        }
    }
}
