import Testing
import Foundation
import Alignment
import Distributed
import Kernels
import Model
import TestSupport

@Suite(.serialized) struct PreferenceTrainerTests {
    static func pairs(_ rng: inout TestRNG, count: Int, vocab: Int) -> [TokenizedPair] {
        (0..<count).map { _ in
            let p = (0..<(1 + rng.int(7))).map { _ in Int32(rng.int(vocab)) }  // 1-token prompts: an empty shared prefix
            let c = (0..<(1 + rng.int(7))).map { _ in Int32(rng.int(vocab)) }
            let r = (0..<(1 + rng.int(7))).map { _ in Int32(rng.int(vocab)) }
            return TokenizedPair(prompt: p, chosen: c, rejected: r, refChosen: -Double(rng.int(30)), refRejected: -Double(rng.int(30)),
                                 weight: 0.5 + Double(rng.uniform()))
        }
    }

    /// The trainer's parameter gradient (read back from a step with lr 0 and no clipping) equals central
    /// differences of the mean pair loss, computed from scratch through CompletionScoring; and micro-batch
    /// size does not change it.
    @Test(arguments: ["dpo", "irpo", "scpo", "ipo", "simpo"])
    func gradientOfTheMeanLossMatchesFiniteDifferences(name: String) throws {
        var config = LlamaConfig.named("micro", vocabSize: 40)!
        config.numLayers = 1
        let model = LlamaModel.randomlyInitialised(config: config, seed: 8, std: 0.3)
        var rng = TestRNG(12)
        let pairs = PreferenceTrainerTests.pairs(&rng, count: 5, vocab: 40)
        let settings = LossSettings(beta: 0.4, alpha: 0.8, gamma: 0.3)
        let loss = try PreferenceLosses.named(name, settings)
        func meanLoss() throws -> Double {
            let pv = try CompletionScoring.logps(model, prompts: pairs.flatMap { [$0.prompt, $0.prompt] }, completions: pairs.flatMap { [$0.chosen, $0.rejected] })
            return pairs.enumerated().reduce(0.0) { acc, e in
                acc + loss.evaluate(PairLogps(policyChosen: pv[2 * e.offset], policyRejected: pv[2 * e.offset + 1], refChosen: e.element.refChosen!,
                                              refRejected: e.element.refRejected!, chosenLength: e.element.chosen.count,
                                              rejectedLength: e.element.rejected.count, weight: e.element.weight)).loss
            } / Double(pairs.count)
        }
        var grads: [[Float]] = []
        for micro in [1 << 20, 20] {
            let t = try PreferenceTrainer(model: model, loss: loss, adamW: AdamWSettings(learningRate: 0), maxGradNorm: nil,
                                      microBatchTokens: micro, comm: LocalCommunicator())
            let m = try t.step(pairs, lr: 0)
            #expect(abs(m.loss - (try meanLoss())) < 1e-5)
            grads.append(t.trainer.grads.array)
        }
        for (a, b) in zip(grads[0], grads[1]) { #expect(abs(a - b) <= 5e-6 + 1e-4 * abs(a)) }  // float32 sums in another order
        let analytic = FloatBuffer(grads[0])
        let ratio = finiteDifferenceRatio(x: model.params, analytic: analytic, samples: 40, eps: 5e-3, rtol: 3e-2, atol: 2e-4) {
            (try? meanLoss()) ?? .nan
        }
        #expect(ratio <= 1, "\(name): worst ratio \(ratio)")
    }

    /// A step's TRL-named metrics on the nano pair (policy nano-llama, reference nano-llama-ref) equal what
    /// TRL 1.16's DPOTrainer logs for it (the fixture's trl_crosscheck_float32), and IRPO's NLL term is
    /// -logps/chosen over the chosen length.
    @Test func stepMetricsAreTRLsOnTheNanoPair() throws {
        let ref = (try loadJSON(Paths.nanoLlama.appendingPathComponent("reference.json")) as! [String: Any])["dpo"] as! [String: Any]
        let trl = ref["trl_crosscheck_float32"] as! [String: Any]
        let policy = try Checkpoint.load(path: Paths.nanoLlama.path).model
        let reference = try Checkpoint.load(path: Paths.nanoLlamaRef.path).model
        var pairs = [TokenizedPair(prompt: (ref["prompt_ids"] as! [Int]).map(Int32.init), chosen: (ref["chosen_completion_ids"] as! [Int]).map(Int32.init),
                                   rejected: (ref["rejected_completion_ids"] as! [Int]).map(Int32.init))]
        try CompletionScoring.fillReference(&pairs, model: reference)
        for loss in [DPOLoss(beta: 0.1) as PreferenceLoss, IRPOLoss(beta: 0.1, alpha: 1)] {
            let t = try PreferenceTrainer(model: policy, loss: loss, adamW: AdamWSettings(learningRate: 0), maxGradNorm: nil, comm: LocalCommunicator())
            let m = try t.step(pairs, lr: 0)
            for (name, ours, theirs) in [("rewards/chosen", m.rewardChosen, trl["rewards_chosen"]), ("rewards/rejected", m.rewardRejected, trl["rewards_rejected"]),
                                         ("logps/chosen", m.policyChosenLogps, trl["logps_chosen"]), ("logps/rejected", m.policyRejectedLogps, trl["logps_rejected"])] {
                let want = theirs as! Double
                #expect(abs(ours - want) < 2e-4 * max(1, abs(want)), "\(loss.name) \(name): \(ours) against TRL's \(want)")
            }
            #expect(abs(m.rewardMargin - (m.rewardChosen - m.rewardRejected)) < 1e-9 && m.accuracy == 1)
            if loss.name == "dpo" {
                #expect(abs(m.loss - (trl["loss"] as! Double)) < 2e-5 && m.nll == 0)
            } else {
                #expect(abs(m.nll - (-m.policyChosenLogps / 8)) < 1e-9 && abs(m.loss - ((trl["loss"] as! Double) + m.nll)) < 2e-4)
            }
        }
    }

    @Test func dpoTrainingRaisesTheMarginOnTheNanoPair() throws {
        let ref = (try loadJSON(Paths.nanoLlama.appendingPathComponent("reference.json")) as! [String: Any])["dpo"] as! [String: Any]
        let model = try Checkpoint.load(path: Paths.nanoLlama.path).model
        var pair = TokenizedPair(prompt: (ref["prompt_ids"] as! [Int]).map(Int32.init), chosen: (ref["chosen_completion_ids"] as! [Int]).map(Int32.init),
                                 rejected: (ref["rejected_completion_ids"] as! [Int]).map(Int32.init))
        var pairs = [pair]
        try CompletionScoring.fillReference(&pairs, model: model)
        pair = pairs[0]
        let t = try PreferenceTrainer(model: model, loss: DPOLoss(beta: 0.1), adamW: AdamWSettings(learningRate: 1e-4), maxGradNorm: 1, comm: LocalCommunicator())
        let first = try t.step([pair], lr: 1e-4)
        // reference = starting policy (scored as two sequences; the trainer runs the prompt once)
        #expect(abs(first.loss - log(2)) < 1e-6 && abs(first.rewardMargin) < 1e-5)
        var last = first
        for _ in 0..<5 { last = try t.step([pair], lr: 1e-4) }
        #expect(last.rewardMargin > 0.5 && last.loss < 0.4 && last.accuracy == 1)
    }
}
