import Testing
import Foundation
import Kernels
import Model
import TestSupport

/// Numbers from ../shared/fixtures/nano-llama/reference.json (PyTorch + transformers + TRL, float64).
@Suite(.serialized) struct NanoLlamaReferenceTests {
    let reference: [String: Any]
    init() throws {
        reference = try loadJSON(Paths.nanoLlama.appendingPathComponent("reference.json")) as! [String: Any]
    }
    var lm: [String: Any] { reference["lm"] as! [String: Any] }
    var dpo: [String: Any] { reference["dpo"] as! [String: Any] }

    @Test func tokenLogProbsLossAndLogitsMatchFloat64Reference() throws {
        let loaded = try Checkpoint.load(path: Paths.nanoLlama.path)
        let ids = (lm["input_ids"] as! [[Int]]).map { $0.map(Int32.init) }
        let f64 = lm["float64"] as! [String: Any]
        let refLP = f64["token_logprobs"] as! [[Double]]
        for threads in [1, 2] {
            Parallel.threads = threads
            let lp = try loaded.model.tokenLogProbs(ids)
            var worst = 0.0, total = 0.0
            for b in 0..<2 {
                #expect(lp[b].count == 15)
                for t in 0..<15 { worst = max(worst, abs(Double(lp[b][t]) - refLP[b][t])); total += Double(lp[b][t]) }
            }
            #expect(worst < 1e-4, "worst per-token deviation \(worst)")
            let loss = -total / 30
            #expect(abs(loss - (f64["loss_mean_nll"] as! Double)) < 1e-5)
        }
        Parallel.threads = Parallel.defaultThreadCount()
        // Raw logits at two positions.
        let ws = Workspace(config: loaded.model.config)
        loaded.model.forward(ids: ids[0] + ids[1], targets: Array(repeating: -1, count: 32),
                             packing: Packing(count: 2, length: 16), workspace: ws)
        for (row, key) in [(0, "logits_seq0_pos0"), (31, "logits_seq1_last")] {
            let ref = f64[key] as! [Double]
            let got = ws.logitsRow(row)
            var worst = 0.0
            for v in 0..<512 { worst = max(worst, abs(Double(got[v]) - ref[v])) }
            #expect(worst < 1e-4, "\(key): \(worst)")
        }
    }

    @Test func dpoPairSequenceLogProbsMatchReference() throws {
        let policy = try Checkpoint.load(path: Paths.nanoLlama.path).model
        let refModel = try Checkpoint.load(path: Paths.nanoLlamaRef.path).model
        let prompt = (dpo["prompt_ids"] as! [Int]).map(Int32.init)
        let chosen = prompt + (dpo["chosen_completion_ids"] as! [Int]).map(Int32.init)
        let rejected = prompt + (dpo["rejected_completion_ids"] as! [Int]).map(Int32.init)
        let f64 = dpo["float64"] as! [String: Any]
        func completionSum(_ m: LlamaModel, _ seq: [Int32]) throws -> Double {
            let lp = try m.tokenLogProbs([seq])[0]
            return lp[(prompt.count - 1)...].reduce(0.0) { $0 + Double($1) }
        }
        let values = [
            ("policy_chosen_logps", try completionSum(policy, chosen)),
            ("policy_rejected_logps", try completionSum(policy, rejected)),
            ("ref_chosen_logps", try completionSum(refModel, chosen)),
            ("ref_rejected_logps", try completionSum(refModel, rejected)),
        ]
        for (key, got) in values {
            #expect(abs(got - (f64[key] as! Double)) < 1e-4, "\(key): \(got) vs \(f64[key]!)")
        }
        let beta = dpo["beta"] as! Double
        let logits = (values[0].1 - values[2].1) - (values[1].1 - values[3].1)
        let loss = log(1 + exp(-beta * logits))
        #expect(abs(loss - (f64["loss"] as! Double)) < 1e-5)
    }
}
