/// DPO with the sigmoid loss (TRL's `loss_type="sigmoid"`, no label smoothing):
/// z = beta * [(pc - rc) - (pr - rr)], loss = -log sigma(z);
/// d loss / d pc = -beta * sigma(-z), d loss / d pr = +beta * sigma(-z).
public struct DPOLoss: PreferenceLoss {
    public let beta: Double
    public var name: String { "dpo" }
    public var usesReference: Bool { true }
    public init(beta: Double) { self.beta = beta }

    public func evaluate(_ p: PairLogps) -> LossValue {
        let z = beta * ((p.policyChosen - p.refChosen) - (p.policyRejected - p.refRejected))
        let g = beta * sigmoid(-z)
        return LossValue(loss: -logSigmoid(z), dChosen: -g, dRejected: g,
                         rewardChosen: beta * (p.policyChosen - p.refChosen), rewardRejected: beta * (p.policyRejected - p.refRejected))
    }
}
