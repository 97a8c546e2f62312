import Alignment
import Foundation
import Kernels

/// How a pairs phase turns a round's judged samples into preferences: a pair kind with its settings,
/// chosen once when the config is read (`pairs.kind`). A new kind is a type here with its config keys,
/// and its name in `PairSelections.kinds` (docs/architecture.md, "Adding a recipe").
public protocol PairSelection {
    /// Its name in configs (`pairs.kind`).
    static var name: String { get }
    /// Reads the kind's own settings from the pairs phase (other keys are refused as unknown).
    init(_ r: ConfigReader) throws
    /// Whether it picks by judge scores (what a score filter such as RIP needs).
    var usesScores: Bool { get }
    /// The preferences among each prompt's candidates: one list per prompt, in the prompts' order.
    func select(_ prompts: [[Candidate]], stream: RandomStream) -> [[Preference]]
    /// Counts for the round's metrics line besides the number of pairs.
    func metrics(_ prompts: [[Candidate]], _ selected: [[Preference]]) -> [String: Any]
}

extension PairSelection {
    public var usesScores: Bool { false }
    public func metrics(_ prompts: [[Candidate]], _ selected: [[Preference]]) -> [String: Any] { [:] }
}

public enum PairSelections {
    /// Every pair kind a config can name.
    public static let kinds: [PairSelection.Type] = [CorrectVsIncorrect.self, SelfConsistencyPairs.self, BestVsWorst.self,
                                                     LengthControlled.self, ThoughtPairSelection.self]

    static func read(_ r: ConfigReader) throws -> PairSelection {
        let name = try r.string("kind", default: CorrectVsIncorrect.name, oneOf: kinds.map { $0.name })!
        return try kinds.first { $0.name == name }!.init(r)
    }
}

/// IRPO: correct against incorrect answers (verifiable judge), up to `max_pairs` per prompt drawn at random.
struct CorrectVsIncorrect: PairSelection {
    static let name = "correct_vs_incorrect"
    let maxPairs: Int
    init(_ r: ConfigReader) throws { maxPairs = try r.int("max_pairs", default: 4, min: 1) }
    func select(_ prompts: [[Candidate]], stream: RandomStream) -> [[Preference]] {
        prompts.enumerated().map { g, cs in
            var rng = stream.keyed(UInt64(g), StreamTag.pairDraw.rawValue)
            return PairBuilders.correctVsIncorrect(cs, maxPairs: maxPairs, rng: &rng)
        }
    }
}

/// ScPO: the most-voted answer against the least-voted, weighted by the vote margin, when the top answer
/// has at least `tau` of the votes.
struct SelfConsistencyPairs: PairSelection {
    static let name = "self_consistency"
    let tau: Double
    init(_ r: ConfigReader) throws { tau = try r.double("tau", default: 0.5, min: 0, max: 1) }
    func select(_ prompts: [[Candidate]], stream: RandomStream) -> [[Preference]] {
        prompts.map { PairBuilders.selfConsistency($0, tau: tau).map { [$0] } ?? [] }
    }
}

/// Self-Rewarding: the highest-scored sample against the lowest (ties give no pair).
struct BestVsWorst: PairSelection {
    static let name = "best_vs_worst"
    init(_ r: ConfigReader) throws {}
    var usesScores: Bool { true }
    func select(_ prompts: [[Candidate]], stream: RandomStream) -> [[Preference]] {
        prompts.map { PairBuilders.bestVsWorst($0).map { [$0] } ?? [] }
    }
}

/// Meta-Rewarding: the shortest of the near-best against the longest of the near-worst (`rho`).
struct LengthControlled: PairSelection {
    static let name = "length_controlled"
    let rho: Double
    init(_ r: ConfigReader) throws { rho = try r.double("rho", default: 0, min: 0, max: 0.5) }
    var usesScores: Bool { true }
    func select(_ prompts: [[Candidate]], stream: RandomStream) -> [[Preference]] {
        prompts.map { PairBuilders.lengthControlled($0, rho: rho).map { [$0] } ?? [] }
    }
}

/// Thought Preference Optimization: by length-penalised z-scores (`rho`), an output without a response
/// part serving as rejected in at most `max_unparsed_fraction` of the pairs (`ThoughtPairs`).
struct ThoughtPairSelection: PairSelection {
    static let name = "tpo"
    let rho: Double, maxUnparsedFraction: Double
    init(_ r: ConfigReader) throws {
        rho = try r.double("rho", default: 0, min: 0, max: 10)
        maxUnparsedFraction = try r.double("max_unparsed_fraction", default: 0.1, min: 0, max: 1)
    }
    var usesScores: Bool { true }
    func select(_ prompts: [[Candidate]], stream: RandomStream) -> [[Preference]] {
        ThoughtPairs.select(prompts, rho: rho, maxUnparsedFraction: maxUnparsedFraction).map { $0.map { [$0] } ?? [] }
    }
    func metrics(_ prompts: [[Candidate]], _ selected: [[Preference]]) -> [String: Any] {
        ["unparsed_rejected": zip(selected, prompts).filter { pref, cs in pref.first.map { !cs[$0.rejected].parseable } ?? false }.count]
    }
}
