import Foundation
import Generation

/// Reasoning before the verdict: the judge writes freely up to the verdict's marker ("Score:", "[[") or
/// its token limit; the verdict prefix is then forced after what it wrote and read from probabilities.
public struct ReasoningFirst: Sendable {
    /// temperature, top_p, max_new_tokens and seed of the reasoning.
    public var params: SamplingParameters
    public init(params: SamplingParameters) { self.params = params }

    public struct Reasoning: Sendable, Equatable {
        public var text: String
        /// The token limit ended it before the judge wrote the marker or ended its turn.
        public var cut: Bool
    }

    /// `samples` reasonings of every prompt, each ended before `marker`.
    public func reason(_ prompts: [String], samples: Int, marker: String, service: CompletionService) throws -> [[Reasoning]] {
        var p = params
        p.stop = Array(Set(p.stop + [marker])).sorted()
        return try service.generate(prompts, samples: samples, params: p).map { $0.map { Reasoning(text: $0.text, cut: $0.finishReason == "length") } }
    }

    /// The judge's answer so far: its reasoning, then the forced prefix on a line of its own.
    public static func answerPrefix(_ reasoning: String?, prefix: String) -> String {
        guard let r = reasoning?.trimmingCharacters(in: .whitespacesAndNewlines), !r.isEmpty else { return prefix }
        return r + "\n" + prefix
    }
}

/// Pointwise judging read from probabilities: the rubric prompt, "Score: " forced, then the distribution
/// over the score strings; the score is its expectation. With reasoning, each of `judgments` reasonings
/// gives a distribution and the score is the mean of their expectations.
public struct LogprobPointwiseJudge {
    public var templates: JudgeTemplates
    /// The closed set of scores, as written (each string's value is its number).
    public var scores: [String]
    public var prefix: String
    public var reasoning: ReasoningFirst?
    public var judgments: Int

    public init(templates: JudgeTemplates = JudgeTemplates(), scores: [String] = (0...5).map(String.init), prefix: String = "Score: ",
                reasoning: ReasoningFirst? = nil, judgments: Int = 1) {
        self.templates = templates; self.scores = scores; self.prefix = prefix; self.reasoning = reasoning
        self.judgments = reasoning == nil ? 1 : judgments
    }

    public struct Judgment: Sendable, Equatable {
        public var distribution: VerdictDistribution
        public var expected: Double
        public var mostLikely: Double
        public var reasoning: String?
        public var cut: Bool
    }

    public struct Result: Sendable, Equatable {
        public var judgments: [Judgment]
        /// The mean expected score.
        public var score: Double { judgments.reduce(0) { $0 + $1.expected } / Double(max(1, judgments.count)) }
        public var entropy: Double { judgments.reduce(0) { $0 + $1.distribution.entropy } / Double(max(1, judgments.count)) }
    }

    public func judge(_ items: [(instruction: String, response: String)], scorer: VerdictScorer, service: CompletionService?) throws -> [Result] {
        let values = try scores.map { s -> Double in
            guard let v = Double(s.trimmingCharacters(in: .whitespaces)) else { throw AlignmentError("score string '\(s)' is not a number") }
            return v
        }
        let prompts = items.map { templates.fillPointwise(instruction: $0.instruction, response: $0.response) }
        let reasonings: [[ReasoningFirst.Reasoning?]]
        if let r = reasoning {
            guard let service else { throw AlignmentError("reasoning-first judging needs a model that generates") }
            let marker = prefix.trimmingCharacters(in: .whitespaces)
            reasonings = try r.reason(prompts, samples: judgments, marker: marker.isEmpty ? prefix : marker, service: service)
        } else {
            reasonings = prompts.map { _ in [nil] }
        }
        let queries = zip(prompts, reasonings).flatMap { p, rs in
            rs.map { VerdictQuery(prompt: p, answerPrefix: ReasoningFirst.answerPrefix($0?.text, prefix: prefix), candidates: scores) }
        }
        var logps = try scorer.logprobs(queries)[...]
        return reasonings.map { rs in
            Result(judgments: rs.map { r in
                let d = VerdictDistribution(candidates: scores, logprobs: logps.removeFirst())
                return Judgment(distribution: d, expected: d.expectation(values), mostLikely: values[d.mostLikely], reasoning: r?.text, cut: r?.cut ?? false)
            })
        }
    }
}

/// Pairwise judging read from probabilities: "[[" forced, then P(A) against P(B), in both orders. The
/// preference for the first response is the mean of P(A) with it shown first and P(B) with it shown
/// second; within `tieMargin` of one half it is a tie.
public struct LogprobPairwiseJudge {
    public var templates: JudgeTemplates
    public var tieMargin: Double
    public var reasoning: ReasoningFirst?
    public static let prefix = "[["

    public init(templates: JudgeTemplates = JudgeTemplates(), tieMargin: Double = 0, reasoning: ReasoningFirst? = nil) {
        self.templates = templates; self.tieMargin = tieMargin; self.reasoning = reasoning
    }

    /// The verdict for an order-corrected probability that the first response is better.
    public static func verdict(probabilityFirst p: Double, tieMargin: Double) -> PairwiseJudge.Verdict {
        p > 0.5 + tieMargin ? .first : p < 0.5 - tieMargin ? .second : .tie
    }

    public func judge(_ items: [(instruction: String, first: String, second: String)], scorer: VerdictScorer,
                      service: CompletionService?) throws -> [PairwiseJudge.Result] {
        let prompts = items.flatMap { [templates.fillPairwise(instruction: $0.instruction, a: $0.first, b: $0.second),
                                       templates.fillPairwise(instruction: $0.instruction, a: $0.second, b: $0.first)] }
        var reasonings = [ReasoningFirst.Reasoning?](repeating: nil, count: prompts.count)
        if let r = reasoning {
            guard let service else { throw AlignmentError("reasoning-first judging needs a model that generates") }
            reasonings = try r.reason(prompts, samples: 1, marker: Self.prefix, service: service).map { $0[0] }
        }
        let queries = zip(prompts, reasonings).map {
            VerdictQuery(prompt: $0, answerPrefix: ReasoningFirst.answerPrefix($1?.text, prefix: Self.prefix), candidates: ["A", "B"])
        }
        let logps = try scorer.logprobs(queries)
        return items.indices.map { k in
            let f = VerdictDistribution(candidates: ["A", "B"], logprobs: logps[2 * k])
            let b = VerdictDistribution(candidates: ["A", "B"], logprobs: logps[2 * k + 1])
            // (P_f(A) + P_b(B)) / 2, written so that equal P(A) in both orders (two identical responses) is
            // exactly one half: a tie at any margin, not a rounding error's win or loss.
            let pFirst = 0.5 + (f.probabilities[0] - b.probabilities[0]) / 2
            let rs = [reasonings[2 * k], reasonings[2 * k + 1]]
            return PairwiseJudge.Result(verdict: Self.verdict(probabilityFirst: pFirst, tieMargin: tieMargin),
                                        forward: f.candidates[f.mostLikely], backward: b.candidates[b.mostLikely],
                                        raw: rs.compactMap { $0?.text }, forwardA: f.probabilities[0], backwardA: b.probabilities[0],
                                        probabilityFirst: pFirst, cut: rs.filter { $0?.cut == true }.count)
        }
    }
}

/// Yes/no verification read from probabilities: is this answer to the question correct? The score is
/// P(Yes) against P(No).
public struct LogprobVerifier {
    public var template: String
    public static let defaultTemplate = """
    Here is a question and a proposed answer.

    [Question]
    {instruction}

    [Proposed Answer]
    {response}

    Is the proposed answer correct? Answer Yes or No.
    """
    public init(template: String = LogprobVerifier.defaultTemplate) { self.template = template }

    /// P(Yes) for every (question, answer).
    public func verify(_ items: [(instruction: String, response: String)], scorer: VerdictScorer) throws -> [Double] {
        let queries = items.map {
            VerdictQuery(prompt: Placeholders.fill(template, ["instruction": $0.instruction, "response": $0.response]),
                         answerPrefix: "", candidates: ["Yes", "No"])
        }
        return try scorer.logprobs(queries).map { VerdictDistribution(candidates: ["Yes", "No"], logprobs: $0).probabilities[0] }
    }
}
