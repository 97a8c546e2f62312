/// IPO as TRL computes it: log-probs averaged over completion tokens (policy and reference),
/// h = (pc/|y_w| - rc/|y_w|) - (pr/|y_l| - rr/|y_l|), loss = (h - 1/(2 beta))^2;
/// d/d pc = 2 (h - 1/(2 beta)) / |y_w|, d/d pr = -2 (h - 1/(2 beta)) / |y_l|.
public struct IPOLoss: PreferenceLoss {
    public let beta: Double
    public var name: String { "ipo" }
    public var usesReference: Bool { true }
    public init(beta: Double) { self.beta = beta }

    public func evaluate(_ p: PairLogps) -> LossValue {
        let nw = Double(max(p.chosenLength, 1)), nl = Double(max(p.rejectedLength, 1))
        let rc = (p.policyChosen - p.refChosen) / nw, rr = (p.policyRejected - p.refRejected) / nl
        let d = (rc - rr) - 1 / (2 * beta)
        return LossValue(loss: d * d, dChosen: 2 * d / nw, dRejected: -2 * d / nl,
                         rewardChosen: beta * rc, rewardRejected: beta * rr)
    }
}
