import Foundation
import Generation

/// Something that completes text prompts (the policy or another model, on one rank or many).
public protocol CompletionService {
    /// `samples` completions of every prompt, in prompt order, with why each ended.
    func generate(_ prompts: [String], samples: Int, params: SamplingParameters) throws -> [[Completion]]
}

/// A completion's text (cut before a stop string that ended it) and "stop" or "length".
public struct Completion: Sendable, Equatable {
    public var text: String
    public var finishReason: String
    public init(text: String, finishReason: String = "stop") { self.text = text; self.finishReason = finishReason }
}

extension CompletionService {
    /// `samples` completion texts of every prompt, in prompt order.
    public func complete(_ prompts: [String], samples: Int, params: SamplingParameters) throws -> [[String]] {
        try generate(prompts, samples: samples, params: params).map { $0.map(\.text) }
    }
}

/// Judge prompt templates with `{instruction}`, `{response}`, `{response_a}`, `{response_b}` placeholders;
/// the defaults follow the published prompts and can be replaced from the config.
public struct JudgeTemplates: Sendable, Equatable, Codable {
    public var pointwise: String
    public var pairwise: String
    public init(pointwise: String = JudgeTemplates.defaultPointwise, pairwise: String = JudgeTemplates.defaultPairwise) {
        self.pointwise = pointwise; self.pairwise = pairwise
    }

    /// Self-Rewarding's additive 5-point rubric (LLM-as-a-Judge).
    public static let defaultPointwise = """
    Review the user's question and the corresponding response using the additive 5-point scoring system \
    described below. Points are accumulated based on the satisfaction of each criterion:
    - Add 1 point if the response is relevant and provides some information related to the user's inquiry, \
    even if it is incomplete or contains some irrelevant content.
    - Add another point if the response addresses a substantial portion of the user's question, but does not \
    completely resolve the query or provide a direct answer.
    - Award a third point if the response answers the basic elements of the user's question in a useful way, \
    regardless of whether it seems to have been written by an AI Assistant or if it has elements typically \
    found in blogs or search results.
    - Grant a fourth point if the response is clearly written from an AI Assistant's perspective, addressing \
    the user's question directly and comprehensively, and is well-organized and helpful, even if there is \
    slight room for improvement in clarity, conciseness or focus.
    - Bestow a fifth point for a response that is impeccably tailored to the user's question by an AI \
    Assistant, without extraneous information, reflecting expert knowledge, and demonstrating a \
    high-quality, engaging, and insightful answer.

    User: {instruction}
    <response>{response}</response>

    After examining the user's instruction and the response:
    - Briefly justify your total score, up to 100 words.
    - Conclude with the score using the format: "Score: <total points>"
    """

    /// A pairwise comparison ending in [[A]] or [[B]] (the MT-Bench judge format used by Self-Taught Evaluators).
    public static let defaultPairwise = """
    Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants \
    to the user question displayed below. Choose the assistant that follows the user's instructions and \
    answers the user's question better, considering helpfulness, relevance, accuracy, depth and level of \
    detail. Do not let the order in which the responses were presented, their length, or the assistants' \
    names influence your decision. Be as objective as possible. After a short explanation, output your final \
    verdict by strictly following this format: "[[A]]" if assistant A is better, "[[B]]" if assistant B is better.

    [User Question]
    {instruction}

    [The Start of Assistant A's Answer]
    {response_a}
    [The End of Assistant A's Answer]

    [The Start of Assistant B's Answer]
    {response_b}
    [The End of Assistant B's Answer]
    """

    public func fillPointwise(instruction: String, response: String) -> String {
        Placeholders.fill(pointwise, ["instruction": instruction, "response": response])
    }
    public func fillPairwise(instruction: String, a: String, b: String) -> String {
        Placeholders.fill(pairwise, ["instruction": instruction, "response_a": a, "response_b": b])
    }

    /// Checks that each template has its placeholders.
    public func validate() throws {
        for p in ["{instruction}", "{response}"] where !pointwise.contains(p) { throw AlignmentError("pointwise judge template lacks \(p)") }
        for p in ["{instruction}", "{response_a}", "{response_b}"] where !pairwise.contains(p) { throw AlignmentError("pairwise judge template lacks \(p)") }
    }
}

public enum JudgeParsing {
    /// The score of a "Score: N" judgment (tolerant: any case, "score of 4", "Score - 3.5", "4/5"); the last
    /// such score in the text; nil when there is none in [0, maxScore].
    public static func score(_ text: String, maxScore: Double = 5) -> Double? {
        let lower = Array(text.lowercased())
        var positions: [Int] = []
        var i = 0
        while i + 5 <= lower.count {
            if String(lower[i..<(i + 5)]) == "score" { positions.append(i) }
            i += 1
        }
        for p in positions.reversed() {
            var j = p + 5
            var skipped = 0
            while j < lower.count && skipped < 12 && (" :=-*\t\"'".contains(lower[j]) || lower[j] == "i" || lower[j] == "s" || lower[j] == "o" || lower[j] == "f") {
                j += 1; skipped += 1
            }
            var k = j
            while k < lower.count && (lower[k].isNumber || lower[k] == ".") { k += 1 }
            var numberText = String(lower[j..<k])
            while numberText.hasSuffix(".") { numberText.removeLast() }
            if let v = Double(numberText), v >= 0, v <= maxScore { return v }
        }
        return nil
    }

    /// "A" or "B" from the last [[A]] / [[B]] in the text; nil when there is none.
    public static func verdict(_ text: String) -> String? {
        let a = text.range(of: "[[A]]", options: .backwards)?.lowerBound
        let b = text.range(of: "[[B]]", options: .backwards)?.lowerBound
        switch (a, b) {
        case (nil, nil): return nil
        case (let x?, nil): _ = x; return "A"
        case (nil, let y?): _ = y; return "B"
        case (let x?, let y?): return x > y ? "A" : "B"
        }
    }
}

/// Pointwise LLM judging: each response judged `judgments` times with the rubric; the parseable scores
/// are averaged. A response with no parseable judgment has no score (and is counted), never 0.
public struct PointwiseJudge {
    public var templates: JudgeTemplates
    public var judgments: Int
    public var params: SamplingParameters

    public init(templates: JudgeTemplates = JudgeTemplates(), judgments: Int = 3, params: SamplingParameters) {
        self.templates = templates; self.judgments = judgments; self.params = params
    }

    public struct Result: Sendable {
        /// Mean of the parseable scores; nil when none parsed.
        public var score: Double?
        public var scores: [Double?]
        public var raw: [String]
        public var unparsed: Int { scores.filter { $0 == nil }.count }
    }

    public func judge(_ items: [(instruction: String, response: String)], with service: CompletionService) throws -> [Result] {
        let prompts = items.map { templates.fillPointwise(instruction: $0.instruction, response: $0.response) }
        let outputs = try service.complete(prompts, samples: judgments, params: params)
        return outputs.map { texts in
            let scores = texts.map { JudgeParsing.score($0) }
            let parsed = scores.compactMap { $0 }
            return Result(score: parsed.isEmpty ? nil : parsed.reduce(0, +) / Double(parsed.count), scores: scores, raw: texts)
        }
    }
}

/// Pairwise LLM judging in both orders, to cancel position bias: the verdict counts only when the two
/// orders agree; otherwise it is a tie.
public struct PairwiseJudge {
    public var templates: JudgeTemplates
    public var params: SamplingParameters

    public init(templates: JudgeTemplates = JudgeTemplates(), params: SamplingParameters) {
        self.templates = templates; self.params = params
    }

    public enum Verdict: String, Sendable, Codable { case first, second, tie, unparsed }

    public struct Result: Sendable {
        public var verdict: Verdict
        /// The raw verdicts for (first as A) and (second as A): the most likely letter when read from
        /// probabilities.
        public var forward: String?
        public var backward: String?
        public var raw: [String]
        /// Read from probabilities (`LogprobPairwiseJudge`): P(A) in each order, the order-corrected
        /// probability that the first response is better, and the number of reasonings cut by the limit.
        public var forwardA: Double? = nil
        public var backwardA: Double? = nil
        public var probabilityFirst: Double? = nil
        public var cut = 0
        /// Whether the verdict changed with the order (both orders name the same position).
        public var flipped: Bool { forward != nil && forward == backward }
    }

    public static func combine(forward: String?, backward: String?) -> Verdict {
        guard let f = forward, let b = backward else { return .unparsed }
        if f == "A" && b == "B" { return .first }
        if f == "B" && b == "A" { return .second }
        return .tie
    }

    public func judge(_ items: [(instruction: String, first: String, second: String)], with service: CompletionService) throws -> [Result] {
        var prompts: [String] = []
        for it in items {
            prompts.append(templates.fillPairwise(instruction: it.instruction, a: it.first, b: it.second))
            prompts.append(templates.fillPairwise(instruction: it.instruction, a: it.second, b: it.first))
        }
        let outputs = try service.complete(prompts, samples: 1, params: params)
        return (0..<items.count).map { k in
            let f = JudgeParsing.verdict(outputs[2 * k][0]), b = JudgeParsing.verdict(outputs[2 * k + 1][0])
            return Result(verdict: PairwiseJudge.combine(forward: f, backward: b), forward: f, backward: b,
                          raw: [outputs[2 * k][0], outputs[2 * k + 1][0]])
        }
    }
}
