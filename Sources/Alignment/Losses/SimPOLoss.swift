/// SimPO as TRL's CPOTrainer computes it (`loss_type="simpo"`, no reference): log-probs averaged over
/// completion tokens, z = beta * (pc/|y_w| - pr/|y_l|) - gamma, loss = -log sigma(z);
/// d/d pc = -beta sigma(-z) / |y_w|, d/d pr = +beta sigma(-z) / |y_l|.
public struct SimPOLoss: PreferenceLoss {
    public let beta: Double
    public let gamma: Double
    public var name: String { "simpo" }
    public var usesReference: Bool { false }
    public init(beta: Double, gamma: Double) { self.beta = beta; self.gamma = gamma }

    public func evaluate(_ p: PairLogps) -> LossValue {
        let nw = Double(max(p.chosenLength, 1)), nl = Double(max(p.rejectedLength, 1))
        let z = beta * (p.policyChosen / nw - p.policyRejected / nl) - gamma
        let g = beta * sigmoid(-z)
        return LossValue(loss: -logSigmoid(z), dChosen: -g / nw, dRejected: g / nl,
                         rewardChosen: beta * p.policyChosen / nw, rewardRejected: beta * p.policyRejected / nl)
    }
}
