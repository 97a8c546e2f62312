/// Iterative Reasoning Preference Optimization: DPO plus alpha times the length-normalised NLL of the
/// chosen response, loss = DPO(beta) - alpha * pc / |y_w|; d/d pc gains -alpha / |y_w|.
public struct IRPOLoss: PreferenceLoss {
    public let beta: Double
    public let alpha: Double
    public var name: String { "irpo" }
    public var usesReference: Bool { true }
    public init(beta: Double, alpha: Double) { self.beta = beta; self.alpha = alpha }

    public func evaluate(_ p: PairLogps) -> LossValue {
        var v = DPOLoss(beta: beta).evaluate(p)
        let n = Double(max(p.chosenLength, 1))
        v.nll = -p.policyChosen / n
        v.loss += alpha * v.nll
        v.dChosen += -alpha / n
        return v
    }
}
