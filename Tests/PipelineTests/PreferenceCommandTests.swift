import Testing
import Foundation
import Model
import TestSupport

@Suite(.serialized) struct PreferenceCommandTests {
    static let dir = Paths.temporaryDirectory("preference")

    func pairLine() throws -> String {
        let dpo = (try loadJSON(Paths.nanoLlama.appendingPathComponent("reference.json")) as! [String: Any])["dpo"] as! [String: Any]
        return "{\"prompt_ids\": \(dpo["prompt_ids"]!), \"chosen_ids\": \(dpo["chosen_completion_ids"]!), \"rejected_ids\": \(dpo["rejected_completion_ids"]!)}"
    }

    @Test func preferenceLossMatchesTheNanoLlamaReference() throws {
        let dpo = (try loadJSON(Paths.nanoLlama.appendingPathComponent("reference.json")) as! [String: Any])["dpo"] as! [String: Any]
        let f64 = dpo["float64"] as! [String: Any]
        let pairs = PreferenceCommandTests.dir.appendingPathComponent("pair.jsonl")
        try (try pairLine() + "\n").write(to: pairs, atomically: true, encoding: .utf8)
        let r = try autodidact(["preference-loss", "--policy", Paths.nanoLlama.path, "--reference", Paths.nanoLlamaRef.path,
                                "--pairs", pairs.path, "--loss", "dpo", "--beta", "0.1"])
        #expect(r.status == 0, "\(r.stderr)")
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Double]
        for key in ["policy_chosen_logps", "policy_rejected_logps", "ref_chosen_logps", "ref_rejected_logps", "loss"] {
            #expect(abs(obj[key]! - (f64[key] as! Double)) < 1e-4, "\(key)")
        }
        // Every loss runs; a missing reference is refused when the loss needs one.
        for loss in ["irpo", "scpo", "ipo", "simpo"] {
            let x = try autodidact(["preference-loss", "--policy", Paths.nanoLlama.path, "--reference", Paths.nanoLlamaRef.path,
                                    "--pairs", pairs.path, "--loss", loss])
            #expect(x.status == 0 && x.stdout.contains("\"loss\""), "\(loss): \(x.stderr)")
        }
        let noRef = try autodidact(["preference-loss", "--policy", Paths.nanoLlama.path, "--pairs", pairs.path, "--loss", "dpo"])
        #expect(noRef.status != 0 && noRef.stderr.contains("pair.jsonl:1"))
        let simpo = try autodidact(["preference-loss", "--policy", Paths.nanoLlama.path, "--pairs", pairs.path, "--loss", "simpo"])
        #expect(simpo.status == 0)
    }

    @Test func preferenceTrainingIsDataParallel() throws {
        let pairs = PreferenceCommandTests.dir.appendingPathComponent("pairs8.jsonl")
        // Eight pairs from the fixture's, with the completions shifted so they differ.
        let dpo = (try loadJSON(Paths.nanoLlama.appendingPathComponent("reference.json")) as! [String: Any])["dpo"] as! [String: Any]
        let p = dpo["prompt_ids"] as! [Int], c = dpo["chosen_completion_ids"] as! [Int], rj = dpo["rejected_completion_ids"] as! [Int]
        let lines = (0..<8).map { k in
            "{\"prompt_ids\": \(p.map { ($0 + k) % 512 }), \"chosen_ids\": \(c.map { ($0 + 3 * k) % 512 }), \"rejected_ids\": \(rj.map { ($0 + 5 * k) % 512 }), \"weight\": \(0.5 + Double(k) / 8)}"
        }
        try lines.joined(separator: "\n").write(to: pairs, atomically: true, encoding: .utf8)
        var models: [[Float]] = []
        var finalLines: [String] = []
        for np in [1, 2] {
            let out = PreferenceCommandTests.dir.appendingPathComponent("trained-\(np)")
            let r = try run(["mpirun", "--oversubscribe", "-np", "\(np)", Paths.executable.path, "preference-train", "--model", Paths.nanoLlama.path,
                             "--pairs", pairs.path, "--loss", "scpo", "--beta", "0.5", "--lr", "1e-4", "--batch-size", "4", "--epochs", "2",
                             "--micro-batch-tokens", "40", "--output", out.path],
                            environment: MPITests.env)
            #expect(r.status == 0, "np \(np): \(r.stderr)")
            let metrics = r.stdout.split(separator: "\n").filter { $0.hasPrefix("{") }
            #expect(metrics.count == 4)
            finalLines.append(String(metrics.last ?? ""))
            models.append(try Checkpoint.load(path: out.path).model.params.array)
        }
        let scale = models[0].map(abs).max()!
        var worst: Float = 0
        for (a, b) in zip(models[0], models[1]) { worst = max(worst, abs(a - b)) }
        #expect(worst / scale < 1e-5, "relative difference \(worst / scale)")
        let m = try JSONSerialization.jsonObject(with: Data(finalLines[0].utf8)) as! [String: Any]
        #expect((m["accuracy"] as! Double) >= 0.5 && (m["rewardMargin"] as! Double) > 0)
    }
}
