import Foundation
import Generation

/// A closed-set question to a judge: the prompt (its user turn), the text forced at the start of its
/// answer ("Score: ", "[["), and the strings the answer may go on with ("0"..."5", "A"/"B").
public struct VerdictQuery: Sendable, Equatable {
    public var prompt: String
    public var answerPrefix: String
    public var candidates: [String]
    public init(prompt: String, answerPrefix: String, candidates: [String]) {
        self.prompt = prompt; self.answerPrefix = answerPrefix; self.candidates = candidates
    }
}

/// Something that reads a judge's log-probabilities (the policy or another model, on one rank or many).
public protocol VerdictScorer {
    /// For every query, the log-probability of each candidate after prompt and prefix: the sum over the
    /// candidate's tokens, teacher-forced.
    func logprobs(_ queries: [VerdictQuery]) throws -> [[Double]]
}

/// A judge's distribution over a closed set of verdicts: the candidates' sequence probabilities
/// normalised over the set.
public struct VerdictDistribution: Codable, Sendable, Equatable {
    public var candidates: [String]
    public var probabilities: [Double]

    public init(candidates: [String], logprobs: [Double]) {
        self.candidates = candidates
        let top = logprobs.max() ?? 0
        let e = logprobs.map { Foundation.exp($0 - top) }
        let z = e.reduce(0, +)
        probabilities = e.map { $0 / z }
    }

    public func probability(of candidate: String) -> Double {
        candidates.firstIndex(of: candidate).map { probabilities[$0] } ?? 0
    }
    /// The index of the most likely candidate (the first of equals).
    public var mostLikely: Int { probabilities.indices.max { probabilities[$0] < probabilities[$1] || (probabilities[$0] == probabilities[$1] && $0 > $1) } ?? 0 }
    /// Shannon entropy in nats.
    public var entropy: Double { -probabilities.reduce(0) { $1 > 0 ? $0 + $1 * Foundation.log($1) : $0 } }
    /// The mean of `values` (one per candidate) under the distribution.
    public func expectation(_ values: [Double]) -> Double { zip(probabilities, values).reduce(0) { $0 + $1.0 * $1.1 } }
}
