import Foundation
import Kernels

/// One candidate response to a prompt, with what the judges said of it.
public struct Candidate: Sendable, Equatable {
    public var sampleIndex: Int
    public var text: String
    /// Judge score (nil: unjudged or unparseable)
    public var score: Double?
    /// Verifiable correctness, if known
    public var correct: Bool?
    /// Self-consistency votes, if counted
    public var votes: Int?
    /// Length in tokens (or words; any consistent measure)
    public var length: Int
    /// False for an output the judge could not be shown (TPO: no response part).
    public var parseable: Bool
    public init(sampleIndex: Int, text: String, score: Double? = nil, correct: Bool? = nil, votes: Int? = nil, length: Int, parseable: Bool = true) {
        self.sampleIndex = sampleIndex; self.text = text; self.score = score; self.correct = correct; self.votes = votes; self.length = length
        self.parseable = parseable
    }
}

/// A chosen/rejected choice among one prompt's candidates.
public struct Preference: Sendable, Equatable {
    public var chosen: Int
    public var rejected: Int
    public var weight: Double
    public init(chosen: Int, rejected: Int, weight: Double = 1) { self.chosen = chosen; self.rejected = rejected; self.weight = weight }
}

public enum PairBuilders {
    /// Highest score vs lowest score; no pair when every scored candidate ties. Among equal scores the
    /// lowest sample index is taken.
    public static func bestVsWorst(_ cs: [Candidate]) -> Preference? {
        let scored = cs.enumerated().filter { $0.element.score != nil }
        guard let best = scored.max(by: { $0.element.score! < $1.element.score! || ($0.element.score! == $1.element.score! && $0.offset > $1.offset) }),
              let worst = scored.min(by: { $0.element.score! < $1.element.score! || ($0.element.score! == $1.element.score! && $0.offset < $1.offset) }),
              best.element.score! > worst.element.score! else { return nil }
        return Preference(chosen: best.offset, rejected: worst.offset)
    }

    /// Correct vs incorrect, up to `maxPairs` distinct pairs, picked in a random order drawn from `rng`
    /// (keyed by run seed, round and prompt, so the choice is reproducible). None when all candidates are
    /// correct or all incorrect.
    public static func correctVsIncorrect(_ cs: [Candidate], maxPairs: Int, rng: inout RandomStream) -> [Preference] {
        let good = cs.indices.filter { cs[$0].correct == true }, bad = cs.indices.filter { cs[$0].correct == false }
        guard !good.isEmpty, !bad.isEmpty, maxPairs > 0 else { return [] }
        var all: [(Int, Int)] = []
        for g in good { for b in bad { all.append((g, b)) } }
        rng.shuffle(&all)
        return all.prefix(maxPairs).map { Preference(chosen: $0.0, rejected: $0.1) }
    }

    /// Self-consistency pair: the most-voted candidate against the least-voted, kept when
    /// V(chosen) >= tau * k; weight w = (V(chosen) - V(rejected)) / k.
    public static func selfConsistency(_ cs: [Candidate], tau: Double) -> Preference? {
        let k = cs.count
        let voted = cs.indices.map { ($0, cs[$0].votes ?? 0) }
        guard k > 0, let most = voted.max(by: { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 > $1.0) }),
              let least = voted.min(by: { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }),
              most.1 > least.1, Double(most.1) >= tau * Double(k), cs[most.0].votes != nil else { return nil }
        return Preference(chosen: most.0, rejected: least.0, weight: Double(most.1 - least.1) / Double(k))
    }

    /// Meta-Rewarding's length-controlled choice: chosen = the shortest candidate scoring in
    /// [(1-rho) Smax + rho Smin, Smax], rejected = the longest scoring in [Smin, (1-rho) Smin + rho Smax].
    /// rho = 0 is best vs worst, shortest best and longest worst.
    public static func lengthControlled(_ cs: [Candidate], rho: Double) -> Preference? {
        let scored = cs.indices.filter { cs[$0].score != nil }
        guard let smax = scored.map({ cs[$0].score! }).max(), let smin = scored.map({ cs[$0].score! }).min(), smax > smin else { return nil }
        let top = scored.filter { cs[$0].score! >= (1 - rho) * smax + rho * smin }
        let bottom = scored.filter { cs[$0].score! <= (1 - rho) * smin + rho * smax }
        guard let c = top.min(by: { cs[$0].length < cs[$1].length || (cs[$0].length == cs[$1].length && $0 < $1) }),
              let r = bottom.max(by: { cs[$0].length < cs[$1].length || (cs[$0].length == cs[$1].length && $0 > $1) }),
              c != r, cs[c].score! > cs[r].score! else { return nil }
        return Preference(chosen: c, rejected: r)
    }
}
