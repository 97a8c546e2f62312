/// Self-Consistency Preference Optimization: the IRPO loss scaled by the pair's weight
/// w = (V(y_w) - V(y_l)) / k, loss = w * DPO(beta) + alpha * w * NLL_norm(y_w). Gold-labelled pairs carry w = 1.
public struct ScPOLoss: PreferenceLoss {
    public let beta: Double
    public let alpha: Double
    public var name: String { "scpo" }
    public var usesReference: Bool { true }
    public init(beta: Double, alpha: Double) { self.beta = beta; self.alpha = alpha }

    public func evaluate(_ p: PairLogps) -> LossValue {
        var v = IRPOLoss(beta: beta, alpha: alpha).evaluate(p)
        v.loss *= p.weight
        v.dChosen *= p.weight
        v.dRejected *= p.weight
        return v
    }
}
