import Foundation
import Model
import Tokenizer

/// The four JSON Lines schemas of a round (docs/formats.md). Field names are snake_case; pairs use TRL's
/// preference-dataset names (`prompt`, `chosen`, `rejected`).
public struct PromptRecord: Codable, Sendable, Equatable {
    public var id: String
    public var prompt: String
    /// A gold answer (verifiable tasks); never shown to the model.
    public var reference: String?
    public var metadata: [String: String]?
    public init(id: String, prompt: String, reference: String? = nil, metadata: [String: String]? = nil) {
        self.id = id; self.prompt = prompt; self.reference = reference; self.metadata = metadata
    }
    enum CodingKeys: String, CodingKey { case id, prompt, reference, metadata }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decodeFlexibleString(.id)
        prompt = try c.decode(String.self, forKey: .prompt)
        reference = try c.decodeIfPresentFlexibleString(.reference)
        metadata = try c.decodeIfPresent([String: String].self, forKey: .metadata)
    }
}

public struct GenerationRecord: Codable, Sendable, Equatable {
    public var promptId: String
    public var sampleIndex: Int
    public var text: String
    public var tokenIds: [Int32]
    public var logprob: Double
    /// "stop" or "length"
    public var finishReason: String?
    public init(promptId: String, sampleIndex: Int, text: String, tokenIds: [Int32], logprob: Double, finishReason: String? = nil) {
        self.promptId = promptId; self.sampleIndex = sampleIndex; self.text = text; self.tokenIds = tokenIds
        self.logprob = logprob; self.finishReason = finishReason
    }
    enum CodingKeys: String, CodingKey {
        case promptId = "prompt_id", sampleIndex = "sample_index", text, tokenIds = "token_ids", logprob, finishReason = "finish_reason"
    }
}

public struct JudgmentRecord: Codable, Sendable, Equatable {
    public var promptId: String
    public var sampleIndex: Int
    /// A numeric score (pointwise judges, 1 or 0 for verifiable ones), if the judgment parsed.
    public var score: Double?
    /// A verdict ("correct", "incorrect", "A", "B", "tie"...), or `noResponse` for an output the judge was
    /// not shown (TPO: no response part).
    public var verdict: String?
    public static let noResponse = "no_response"
    /// The verifiable judge with `require_stop`: the output ran to the token limit (score 0).
    public static let unfinished = "unfinished"
    /// Whether the judge was shown the output.
    public var judged: Bool { verdict != JudgmentRecord.noResponse }
    /// Self-consistency votes: how many of the k samples share this one's answer.
    public var votes: Int?
    /// The extracted answer or the judge's raw text.
    public var raw: String
    public var parsed: Bool
    /// LLM judges: each judgment's text and its score (null where it did not parse).
    public var judgeTexts: [String]?
    public var judgeScores: [Double?]?
    /// Thought Preference Optimization: the part of the output the judge was shown (the response after the
    /// thoughts); null when the output has no response part and so was not judged.
    public var judgedResponse: String?
    /// Verdicts read from probabilities: each judgment's distribution over the scores 0...max, its most
    /// likely score, the mean entropy (nats) and how many reasonings the token limit cut.
    public var distributions: [[Double]]?
    public var mostLikely: [Double]?
    public var entropy: Double?
    public var cut: Int?
    public init(promptId: String, sampleIndex: Int, score: Double? = nil, verdict: String? = nil, votes: Int? = nil,
                raw: String, parsed: Bool, judgeTexts: [String]? = nil, judgeScores: [Double?]? = nil, judgedResponse: String? = nil) {
        self.promptId = promptId; self.sampleIndex = sampleIndex; self.score = score; self.verdict = verdict
        self.votes = votes; self.raw = raw; self.parsed = parsed; self.judgeTexts = judgeTexts; self.judgeScores = judgeScores
        self.judgedResponse = judgedResponse
    }
    enum CodingKeys: String, CodingKey {
        case promptId = "prompt_id", sampleIndex = "sample_index", score, verdict, votes, raw, parsed
        case judgeTexts = "judge_texts", judgeScores = "judge_scores", judgedResponse = "judged_response"
        case distributions, mostLikely = "most_likely", entropy, cut
    }
}

/// Meta-Rewarding: the meta-judge's comparisons of the judgments of one response (the one of its prompt
/// whose judge scores vary most), the Elo ratings they give and the judge pair they make.
public struct MetaJudgmentRecord: Codable, Sendable, Equatable {
    public var promptId: String
    public var sampleIndex: Int
    /// The judge prompt the judgments answer (before the chat format).
    public var judgePrompt: String
    /// The response's judgments that parsed, in judgment order, and their scores.
    public var judgments: [String]
    public var scores: [Double]
    public var battles: [MetaJudge.Battle]
    /// Each battle's two meta-judgments, forward then backward.
    public var metaTexts: [String]
    public var elo: [Double]
    /// The judge pair: the indices (into `judgments`) of the highest and the lowest Elo, when they differ.
    public var chosen: Int?
    public var rejected: Int?
    public init(promptId: String, sampleIndex: Int, judgePrompt: String, judgments: [String], scores: [Double], battles: [MetaJudge.Battle],
                metaTexts: [String], elo: [Double], chosen: Int?, rejected: Int?) {
        self.promptId = promptId; self.sampleIndex = sampleIndex; self.judgePrompt = judgePrompt; self.judgments = judgments
        self.scores = scores; self.battles = battles; self.metaTexts = metaTexts; self.elo = elo; self.chosen = chosen; self.rejected = rejected
    }
    enum CodingKeys: String, CodingKey {
        case promptId = "prompt_id", sampleIndex = "sample_index", judgePrompt = "judge_prompt", judgments, scores, battles
        case metaTexts = "meta_texts", elo, chosen, rejected
    }
}

public struct PairRecord: Codable, Sendable, Equatable {
    public var promptId: String?
    public var prompt: String?
    public var chosen: String?
    public var rejected: String?
    public var weight: Double
    public var refChosenLogps: Double?
    public var refRejectedLogps: Double?
    public var promptIds: [Int32]?
    public var chosenIds: [Int32]?
    public var rejectedIds: [Int32]?
    public init(promptId: String? = nil, prompt: String? = nil, chosen: String? = nil, rejected: String? = nil, weight: Double = 1,
                refChosenLogps: Double? = nil, refRejectedLogps: Double? = nil,
                promptIds: [Int32]? = nil, chosenIds: [Int32]? = nil, rejectedIds: [Int32]? = nil) {
        self.promptId = promptId; self.prompt = prompt; self.chosen = chosen; self.rejected = rejected; self.weight = weight
        self.refChosenLogps = refChosenLogps; self.refRejectedLogps = refRejectedLogps
        self.promptIds = promptIds; self.chosenIds = chosenIds; self.rejectedIds = rejectedIds
    }
    enum CodingKeys: String, CodingKey {
        case promptId = "prompt_id", prompt, chosen, rejected, weight, refChosenLogps = "ref_chosen_logps",
             refRejectedLogps = "ref_rejected_logps", promptIds = "prompt_ids", chosenIds = "chosen_ids", rejectedIds = "rejected_ids"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        promptId = try c.decodeIfPresentFlexibleString(.promptId)
        prompt = try c.decodeIfPresent(String.self, forKey: .prompt)
        chosen = try c.decodeIfPresent(String.self, forKey: .chosen)
        rejected = try c.decodeIfPresent(String.self, forKey: .rejected)
        weight = try c.decodeIfPresent(Double.self, forKey: .weight) ?? 1
        refChosenLogps = try c.decodeIfPresent(Double.self, forKey: .refChosenLogps)
        refRejectedLogps = try c.decodeIfPresent(Double.self, forKey: .refRejectedLogps)
        promptIds = try c.decodeIfPresent([Int32].self, forKey: .promptIds)
        chosenIds = try c.decodeIfPresent([Int32].self, forKey: .chosenIds)
        rejectedIds = try c.decodeIfPresent([Int32].self, forKey: .rejectedIds)
        let hasIds = promptIds != nil && chosenIds != nil && rejectedIds != nil
        let hasText = prompt != nil && chosen != nil && rejected != nil
        guard hasIds || hasText else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "a pair needs prompt_ids, chosen_ids and rejected_ids, or prompt, chosen and rejected"))
        }
        guard weight.isFinite && weight >= 0 else {
            throw DecodingError.dataCorrupted(.init(codingPath: [CodingKeys.weight], debugDescription: "weight must be a non-negative number"))
        }
    }
}

extension KeyedDecodingContainer {
    /// A string, or an integer written as one (ids may be either).
    func decodeFlexibleString(_ key: Key) throws -> String {
        if let s = try? decode(String.self, forKey: key) { return s }
        if let i = try? decode(Int.self, forKey: key) { return String(i) }
        return try decode(String.self, forKey: key)  // throws the decoder's error naming the key
    }
    func decodeIfPresentFlexibleString(_ key: Key) throws -> String? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        return try decodeFlexibleString(key)
    }
}

/// Reading and writing record files: one JSON object per line; a malformed line is an error naming the
/// file, the line and the field; files are written under a temporary name and renamed.
public enum RecordFile {
    public static func read<T: Decodable>(_ type: T.Type, from path: String) throws -> [T] {
        guard let data = FileManager.default.contents(atPath: path) else { throw AlignmentError("\(path): cannot read") }
        var out: [T] = []
        var line = 0
        let decoder = JSONDecoder()
        for raw in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            line += 1
            if raw.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            do { out.append(try decoder.decode(T.self, from: Data(raw))) } catch {
                throw AlignmentError("\(path):\(line): \(describe(error))")
            }
        }
        return out
    }

    public static func write<T: Encodable>(_ records: [T], to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data()
        for r in records {
            data.append(try encoder.encode(r))
            data.append(UInt8(ascii: "\n"))
        }
        try atomicWrite(data, to: path)
    }

    public static func atomicWrite(_ data: Data, to path: String) throws {
        do { try AtomicFile.write(data, to: URL(fileURLWithPath: path)) } catch {
            throw AlignmentError("\(path): cannot write (\(error))")
        }
    }

    static func describe(_ error: Error) -> String {
        guard let e = error as? DecodingError else { return "\(error)" }
        func path(_ c: DecodingError.Context) -> String {
            let p = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "" : "field '\(p)': "
        }
        switch e {
        case .keyNotFound(let key, let c): return "\(path(c))missing field '\(key.stringValue)'"
        case .typeMismatch(let type, let c): return "\(path(c))expected \(type)"
        case .valueNotFound(let type, let c): return "\(path(c))expected \(type), found null"
        case .dataCorrupted(let c):
            if c.codingPath.isEmpty, let u = c.underlyingError { return "not valid JSON (\(u))" }
            return "\(path(c))\(c.debugDescription)"
        @unknown default: return "\(e)"
        }
    }
}
