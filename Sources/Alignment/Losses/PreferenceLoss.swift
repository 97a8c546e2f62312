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
    /// The NLL term of the chosen response (IRPO; TRL's RPO logs it as `nll_loss`); 0 for the others.
    public var nll: Double = 0
}

/// A loss over preference pairs (one file per loss, one entry in `PreferenceLosses.named`).
public protocol PreferenceLoss: Sendable {
    var name: String { get }
    /// Whether it needs reference log-probs.
    var usesReference: Bool { get }
    func evaluate(_ p: PairLogps) -> LossValue
}

/// The settings every loss reads: beta (DPO temperature), alpha (weight of the NLL term), gamma
/// (SimPO's margin). `check()` is the one place their ranges are enforced: the run config and the
/// `preference-*` commands both go through it.
public struct LossSettings: Sendable, Equatable, Codable {
    public var beta: Double
    public var alpha: Double
    public var gamma: Double
    public init(beta: Double = 0.1, alpha: Double = 1, gamma: Double = 0.5) { self.beta = beta; self.alpha = alpha; self.gamma = gamma }

    /// The smallest beta accepted (a beta of 0 makes every loss flat).
    public static let minimumBeta = 1e-6

    /// The first setting out of range, by its config key, with what is expected; nil when all are fine.
    public func problem() -> (key: String, message: String)? {
        if !beta.isFinite || beta < LossSettings.minimumBeta { return ("beta", "must be at least \(LossSettings.minimumBeta), got \(beta)") }
        if !alpha.isFinite || alpha < 0 { return ("alpha", "must be at least 0, got \(alpha)") }
        if !gamma.isFinite { return ("gamma", "expected a number, got \(gamma)") }
        return nil
    }
}

/// The preference losses, by the name a config or the command line gives.
public enum PreferenceLossKind: String, Codable, CaseIterable, Sendable {
    case dpo, irpo, scpo, ipo, simpo
}

public enum PreferenceLosses {
    public static let names = PreferenceLossKind.allCases.map(\.rawValue)

    public static func make(_ kind: PreferenceLossKind, _ s: LossSettings) -> PreferenceLoss {
        switch kind {
        case .dpo: return DPOLoss(beta: s.beta)
        case .irpo: return IRPOLoss(beta: s.beta, alpha: s.alpha)
        case .scpo: return ScPOLoss(beta: s.beta, alpha: s.alpha)
        case .ipo: return IPOLoss(beta: s.beta)
        case .simpo: return SimPOLoss(beta: s.beta, gamma: s.gamma)
        }
    }

    public static func named(_ name: String, _ s: LossSettings) throws -> PreferenceLoss {
        guard let kind = PreferenceLossKind(rawValue: name) else { throw AlignmentError("loss '\(name)' is not one of \(names.joined(separator: ", "))") }
        return make(kind, s)
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
