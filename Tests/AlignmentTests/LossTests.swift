import Testing
import Foundation
import Alignment
import Model
import TestSupport

struct LossTests {
    /// Worked example, by hand: pc = -10, pr = -12, rc = -11, rr = -11, beta = 0.5.
    /// z = 0.5 * ((-10 + 11) - (-12 + 11)) = 0.5 * (1 + 1) = 1; loss = -log sigma(1) = log(1 + e^-1) = 0.31326169;
    /// d/dpc = -0.5 * sigma(-1) = -0.5 * 0.26894142 = -0.13447071; d/dpr = +0.13447071.
    @Test func dpoWorkedExample() {
        let v = DPOLoss(beta: 0.5).evaluate(PairLogps(policyChosen: -10, policyRejected: -12, refChosen: -11, refRejected: -11))
        #expect(abs(v.loss - 0.31326169) < 1e-8)
        #expect(abs(v.dChosen + 0.13447071) < 1e-8 && abs(v.dRejected - 0.13447071) < 1e-8)
        #expect(abs(v.rewardChosen - 0.5) < 1e-12 && abs(v.rewardRejected + 0.5) < 1e-12)
    }

    /// IRPO adds alpha * NLL of the chosen per token: same pair, |y_w| = 4, alpha = 2:
    /// loss = 0.31326169 + 2 * (10 / 4) = 5.31326169; d/dpc = -0.13447071 - 2 / 4 = -0.63447071.
    /// ScPO with weight 0.25 scales all of it: loss = 1.32831542, d/dpc = -0.15861768, d/dpr = 0.03361768.
    @Test func irpoAndScpoWorkedExamples() {
        let p = PairLogps(policyChosen: -10, policyRejected: -12, refChosen: -11, refRejected: -11, chosenLength: 4, rejectedLength: 6, weight: 0.25)
        let i = IRPOLoss(beta: 0.5, alpha: 2).evaluate(p)
        #expect(abs(i.loss - 5.31326169) < 1e-8 && abs(i.dChosen + 0.63447071) < 1e-8 && abs(i.dRejected - 0.13447071) < 1e-8)
        let s = ScPOLoss(beta: 0.5, alpha: 2).evaluate(p)
        #expect(abs(s.loss - 1.32831542) < 1e-8 && abs(s.dChosen + 0.15861768) < 1e-8 && abs(s.dRejected - 0.03361768) < 1e-8)
    }

    /// IPO (TRL: per-token averages): |y_w| = 4, |y_l| = 2, beta = 0.25 so 1/(2 beta) = 2;
    /// h = (-8 + 12)/4 - (-6 + 4)/2 = 1 + 1 = 2 ... pc=-8, rc=-12, pr=-6, rr=-4: h - 2 = 0 -> loss 0.
    /// With pc = -4: h = 2 + 1 = 3, loss = 1, d/dpc = 2 * 1 / 4 = 0.5, d/dpr = -2 * 1 / 2 = -1.
    @Test func ipoWorkedExample() {
        let zero = IPOLoss(beta: 0.25).evaluate(PairLogps(policyChosen: -8, policyRejected: -6, refChosen: -12, refRejected: -4, chosenLength: 4, rejectedLength: 2))
        #expect(abs(zero.loss) < 1e-12)
        let v = IPOLoss(beta: 0.25).evaluate(PairLogps(policyChosen: -4, policyRejected: -6, refChosen: -12, refRejected: -4, chosenLength: 4, rejectedLength: 2))
        #expect(abs(v.loss - 1) < 1e-12 && abs(v.dChosen - 0.5) < 1e-12 && abs(v.dRejected + 1) < 1e-12)
    }

    /// SimPO: pc = -6 over 3 tokens (-2 each), pr = -12 over 4 (-3 each), beta = 2, gamma = 1:
    /// z = 2 * (-2 + 3) - 1 = 1, loss = 0.31326169, d/dpc = -2 sigma(-1) / 3 = -0.17929428, d/dpr = 2 sigma(-1)/4 = 0.13447071.
    @Test func simpoWorkedExampleIgnoresTheReference() {
        let v = SimPOLoss(beta: 2, gamma: 1).evaluate(PairLogps(policyChosen: -6, policyRejected: -12, refChosen: 99, refRejected: -99, chosenLength: 3, rejectedLength: 4))
        #expect(abs(v.loss - 0.31326169) < 1e-8 && abs(v.dChosen + 0.17929428) < 1e-8 && abs(v.dRejected - 0.13447071) < 1e-8)
        #expect(!SimPOLoss(beta: 2, gamma: 1).usesReference)
    }

    @Test(arguments: PreferenceLosses.names)
    func gradientsMatchFiniteDifferences(name: String) throws {
        let loss = try PreferenceLosses.named(name, LossSettings(beta: 0.3, alpha: 0.7, gamma: 0.4))
        for (pc, pr) in [(-20.0, -25.0), (-30.0, -12.0), (-5.0, -5.5)] {
            let base = PairLogps(policyChosen: pc, policyRejected: pr, refChosen: -22, refRejected: -20, chosenLength: 7, rejectedLength: 5, weight: 0.6)
            let v = loss.evaluate(base)
            let h = 1e-5
            var up = base, down = base
            up.policyChosen += h; down.policyChosen -= h
            let fdc = (loss.evaluate(up).loss - loss.evaluate(down).loss) / (2 * h)
            up = base; down = base
            up.policyRejected += h; down.policyRejected -= h
            let fdr = (loss.evaluate(up).loss - loss.evaluate(down).loss) / (2 * h)
            #expect(abs(fdc - v.dChosen) < 1e-6 && abs(fdr - v.dRejected) < 1e-6, "\(name): \(fdc) vs \(v.dChosen), \(fdr) vs \(v.dRejected)")
        }
    }

    @Test func nanoLlamaPairMatchesTheTRLReference() throws {
        let ref = (try loadJSON(Paths.nanoLlama.appendingPathComponent("reference.json")) as! [String: Any])["dpo"] as! [String: Any]
        let prompt = (ref["prompt_ids"] as! [Int]).map(Int32.init)
        let chosen = (ref["chosen_completion_ids"] as! [Int]).map(Int32.init)
        let rejected = (ref["rejected_completion_ids"] as! [Int]).map(Int32.init)
        let policy = try Checkpoint.load(path: Paths.nanoLlama.path).model
        let reference = try Checkpoint.load(path: Paths.nanoLlamaRef.path).model
        let pv = try CompletionScoring.logps(policy, prompts: [prompt, prompt], completions: [chosen, rejected])
        let rv = try CompletionScoring.logps(reference, prompts: [prompt, prompt], completions: [chosen, rejected])
        let v = DPOLoss(beta: ref["beta"] as! Double).evaluate(PairLogps(policyChosen: pv[0], policyRejected: pv[1], refChosen: rv[0], refRejected: rv[1]))
        let f64 = ref["float64"] as! [String: Any]
        #expect(abs(pv[0] - (f64["policy_chosen_logps"] as! Double)) < 1e-4 && abs(pv[1] - (f64["policy_rejected_logps"] as! Double)) < 1e-4)
        #expect(abs(rv[0] - (f64["ref_chosen_logps"] as! Double)) < 1e-4 && abs(rv[1] - (f64["ref_rejected_logps"] as! Double)) < 1e-4)
        #expect(abs(v.loss - (f64["loss"] as! Double)) < 1e-4)
        #expect(abs(v.rewardChosen - (f64["rewards_chosen"] as! Double)) < 1e-5)
    }
}
