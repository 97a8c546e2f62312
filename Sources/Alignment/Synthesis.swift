import Foundation

/// Word-level overlap measures for deduplication and decontamination. Words are lower-cased runs of
/// letters and digits.
public enum TextOverlap {
    public static func words(_ text: String) -> [String] {
        text.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init)
    }

    /// ROUGE-L F1 of two word sequences: with L the longest common subsequence, P = L / |a|, R = L / |b|,
    /// F = 2PR / (P + R); 0 when either is empty.
    public static func rougeL(_ a: [String], _ b: [String]) -> Double {
        guard !a.isEmpty, !b.isEmpty else { return 0 }
        var previous = [Int](repeating: 0, count: b.count + 1), current = previous
        for x in a {
            for (j, y) in b.enumerated() { current[j + 1] = x == y ? previous[j] + 1 : max(previous[j + 1], current[j]) }
            swap(&previous, &current)
        }
        let l = Double(previous[b.count])
        guard l > 0 else { return 0 }
        let p = l / Double(a.count), r = l / Double(b.count)
        return 2 * p * r / (p + r)
    }

    /// The word n-grams of a text; a text shorter than n counts as one n-gram of its own length.
    public static func ngrams(_ w: [String], n: Int) -> Set<[String]> {
        guard w.count >= n else { return w.isEmpty ? [] : [w] }
        return Set((0...(w.count - n)).map { Array(w[$0..<($0 + n)]) })
    }
}

/// NaturalReasoning-style question synthesis: from a document, the model writes a self-contained question
/// with a numeric reference answer; candidates are parsed, screened, deduplicated (ROUGE-L against the
/// questions already kept) and decontaminated (word n-gram or ROUGE-L overlap with evaluation questions).
public struct QuestionSynthesis: Sendable {
    public static let defaultTemplate = """
    Below is a document. Write one self-contained reasoning question that can be answered from the \
    information in the document, so that someone who has not seen the document can still answer it, and \
    give its reference answer as a single number.

    Document:
    {document}

    Reply in this format:
    Question: <the question>
    Answer: <the number>
    """

    public var template = QuestionSynthesis.defaultTemplate
    /// A candidate whose ROUGE-L F1 with a kept question reaches this is a duplicate.
    public var duplicateRougeL = 0.7
    /// A candidate sharing a word n-gram of this length with an evaluation question, or reaching
    /// `duplicateRougeL` with one, is contaminated.
    public var contaminationNGram = 8

    public init() {}

    public func prompt(document: String) -> String { Placeholders.fill(template, ["document": document]) }

    /// Why a candidate was kept or not.
    public enum Status: String, Codable, Sendable, CaseIterable {
        case kept, unparsed, noNumericAnswer = "no_numeric_answer", tooShort = "too_short", refersToDocument = "refers_to_document", duplicate, contaminated
        /// Self-Taught Evaluator: the response to the modified question has the original question's answer.
        case answersOriginal = "answers_original"
    }
    /// A question of fewer words than this is too short to be self-contained.
    public var minimumWords = 4

    /// The question after the last "Question:" up to the "Answer:" that follows, and the answer's number
    /// (the first number on the answer's line, commas dropped); nil when either part is missing.
    public static func parse(_ text: String) -> (question: String, answer: String?)? {
        guard let q = text.range(of: "Question:", options: [.backwards, .caseInsensitive]) else { return nil }
        let rest = text[q.upperBound...]
        guard let a = rest.range(of: "Answer:", options: .caseInsensitive) else { return nil }
        let question = rest[..<a.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
        guard !question.isEmpty else { return nil }
        let line = rest[a.upperBound...].split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        var number = ""
        for ch in line.replacingOccurrences(of: ",", with: "") {
            if ch.isASCII && (ch.isNumber || (ch == "-" && number.isEmpty) || (ch == "." && !number.isEmpty && !number.contains("."))) {
                number.append(ch)
            } else if number.contains(where: \.isNumber) { break } else { number = "" }
        }
        while number.hasSuffix(".") { number.removeLast() }
        return (question, number.contains(where: \.isNumber) ? number : nil)
    }

    /// Screens candidates in order: each is unparsed, without a numeric answer, too short, referring to "the document"
    /// (not self-contained), a duplicate of one kept before it (or of `existing`), contaminated, or kept.
    public func screen(_ texts: [String], existing: [String] = [], evaluation: [String]) -> [(status: Status, question: String?, answer: String?)] {
        var novelty = Novelty(existing: existing, evaluation: evaluation, threshold: duplicateRougeL, n: contaminationNGram)
        return texts.map { text in
            guard let (question, answer) = Self.parse(text) else { return (.unparsed, nil, nil) }
            guard let answer else { return (.noNumericAnswer, question, nil) }
            let w = TextOverlap.words(question)
            if w.count < minimumWords { return (.tooShort, question, answer) }
            let lower = question.lowercased()
            if ["the document", "the text", "the passage", "the article", "above"].contains(where: lower.contains) {
                return (.refersToDocument, question, answer)
            }
            return (novelty.admit(w), question, answer)
        }
    }
}

/// The last two screens of synthesis: a candidate is a duplicate when its ROUGE-L F1 with an existing or
/// earlier kept text reaches `threshold`, contaminated when it shares a word n-gram with an evaluation text
/// or reaches `threshold` with one, and kept (and remembered) otherwise.
struct Novelty {
    var kept: [[String]]
    let evaluation: [[String]]
    let evaluationGrams: Set<[String]>
    let threshold: Double, n: Int
    init(existing: [String], evaluation: [String], threshold: Double, n: Int) {
        kept = existing.map(TextOverlap.words)
        self.evaluation = evaluation.map(TextOverlap.words)
        evaluationGrams = self.evaluation.reduce(into: Set<[String]>()) { $0.formUnion(TextOverlap.ngrams($1, n: n)) }
        self.threshold = threshold; self.n = n
    }
    mutating func admit(_ words: [String]) -> QuestionSynthesis.Status {
        if kept.contains(where: { TextOverlap.rougeL(words, $0) >= threshold }) { return .duplicate }
        if !TextOverlap.ngrams(words, n: n).isDisjoint(with: evaluationGrams) || evaluation.contains(where: { TextOverlap.rougeL(words, $0) >= threshold }) {
            return .contaminated
        }
        kept.append(words)
        return .kept
    }
}

/// Self-Instruct-style prompt synthesis (Self-Rewarding's new prompts, Self-RIP's): the model is shown a few
/// example instructions and writes a new one; candidates are screened like synthesized questions, without
/// a reference answer.
public struct PromptSynthesis: Sendable {
    public static let defaultTemplate = """
    Here are some example instructions that a user might give an AI assistant:

    {examples}

    Write one new instruction of your own, different from all of these, that a user might give an AI \
    assistant. Reply with the instruction only, after "Instruction:".
    """

    public var template = PromptSynthesis.defaultTemplate
    public var screening = QuestionSynthesis()

    public init() {}

    public func prompt(examples: [String]) -> String {
        Placeholders.fill(template, ["examples": examples.enumerated().map { "Instruction \($0.offset + 1): \($0.element)" }.joined(separator: "\n")])
    }

    /// The instruction: the first paragraph after the last "<label>:" (or "<label> N:", or of the whole text
    /// when there is no such label), without surrounding quotes; nil when empty.
    public static func parse(_ text: String, label: String = "Instruction") -> String? {
        var body = Substring(text)
        if let r = text.range(of: label + ":", options: [.backwards, .caseInsensitive]) {
            body = text[r.upperBound...]
        } else if let r = text.range(of: label + " \\d+:", options: [.regularExpression, .backwards]) {
            body = text[r.upperBound...]
        }
        let paragraph = body.trimmingCharacters(in: .whitespacesAndNewlines).components(separatedBy: "\n\n").first ?? ""
        let trimmed = paragraph.trimmingCharacters(in: CharacterSet(charactersIn: "\"' \n\t"))
        return trimmed.isEmpty ? nil : trimmed
    }

    /// Screens candidates in order: unparsed, too short, a duplicate (of a seed, or of one kept before it),
    /// contaminated, or kept.
    public func screen(_ texts: [String], existing: [String], evaluation: [String]) -> [(status: QuestionSynthesis.Status, prompt: String?)] {
        var novelty = Novelty(existing: existing, evaluation: evaluation, threshold: screening.duplicateRougeL, n: screening.contaminationNGram)
        return texts.map { text in
            guard let prompt = Self.parse(text) else { return (.unparsed, nil) }
            let w = TextOverlap.words(prompt)
            if w.count < screening.minimumWords { return (.tooShort, prompt) }
            return (novelty.admit(w), prompt)
        }
    }
}

/// Self-Taught Evaluator's synthetic pairs: for an instruction with a good response, the model writes a
/// related but different instruction and answers it; that answer is the worse response to the original,
/// so the pair's label is known without a judge.
public enum ModifiedInstruction {
    public static let template = """
    Below is a user question. Write a new question on the same topic that is similar to it but asks for \
    something different, so that its answer is different. Reply with the new question only, after "Question:".

    User question: {instruction}
    """

    public static func prompt(_ instruction: String) -> String { Placeholders.fill(template, ["instruction": instruction]) }
}
