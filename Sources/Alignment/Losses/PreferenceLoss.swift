import Foundation

/// What a preference loss sees of one pair: summed completion log-probabilities under the policy and the
/// reference, completion lengths in tokens, and the pair's weight.
public struct PairLogps: Sendable, Equatable {
    public var policyChosen: Double
    public var policyRejected: Double
    public var refChosen: Double
    public var refRejected: Double
    public var chosenLength: Int
    public var rejectedLength: Int
    public var weight: Double
    public init(policyChosen: Double, policyRejected: Double, refChosen: Double = 0, refRejected: Double = 0,
                chosenLength: Int = 1, rejectedLength: Int = 1, weight: Double = 1) {
        self.policyChosen = policyChosen; self.policyRejected = policyRejected
        self.refChosen = refChosen; self.refRejected = refRejected
        self.chosenLength = chosenLength; self.rejectedLength = rejectedLength; self.weight = weight
    }
}

/// A pair's loss and its gradient with respect to the policy's summed chosen and rejected log-probs.
public struct LossValue: Sendable, Equatable {
    public var loss: Double
    public var dChosen: Double
    public var dRejected: Double
    /// The implicit rewards (beta-scaled log-ratios) for metrics; 0 for reference-free losses.
    public var rewardChosen: Double
    public var rewardRejected: Double
}

/// A loss over preference pairs (one file per loss, one entry in `PreferenceLosses.named`).
public protocol PreferenceLoss: Sendable {
    var name: String { get }
    /// Whether it needs reference log-probs.
    var usesReference: Bool { get }
    func evaluate(_ p: PairLogps) -> LossValue
}

/// The settings every loss reads: beta (DPO temperature), alpha (weight of the NLL term), gamma
/// (SimPO's margin).
public struct LossSettings: Sendable, Equatable, Codable {
    public var beta: Double
    public var alpha: Double
    public var gamma: Double
    public init(beta: Double = 0.1, alpha: Double = 1, gamma: Double = 0.5) { self.beta = beta; self.alpha = alpha; self.gamma = gamma }
}

public enum PreferenceLosses {
    public static let names = ["dpo", "irpo", "scpo", "ipo", "simpo"]

    public static func named(_ name: String, _ s: LossSettings) throws -> PreferenceLoss {
        switch name {
        case "dpo": return DPOLoss(beta: s.beta)
        case "irpo": return IRPOLoss(beta: s.beta, alpha: s.alpha)
        case "scpo": return ScPOLoss(beta: s.beta, alpha: s.alpha)
        case "ipo": return IPOLoss(beta: s.beta)
        case "simpo": return SimPOLoss(beta: s.beta, gamma: s.gamma)
        default: throw AlignmentError("loss '\(name)' is not one of \(names.joined(separator: ", "))")
        }
    }
}

public struct AlignmentError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// log sigma(x) and sigma(x), stable for large |x|.
@inline(__always)
func logSigmoid(_ x: Double) -> Double { x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)) }
@inline(__always)
func sigmoid(_ x: Double) -> Double { x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)) }
