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

    public func prompt(document: String) -> String { template.replacingOccurrences(of: "{document}", with: document) }

    /// Why a candidate was kept or not.
    public enum Status: String, Codable, Sendable, CaseIterable {
        case kept, unparsed, noNumericAnswer = "no_numeric_answer", tooShort = "too_short", refersToDocument = "refers_to_document", duplicate, contaminated
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
        let evalWords = evaluation.map(TextOverlap.words)
        var evalGrams = Set<[String]>()
        for w in evalWords { evalGrams.formUnion(TextOverlap.ngrams(w, n: contaminationNGram)) }
        var kept = existing.map(TextOverlap.words)
        return texts.map { text in
            guard let (question, answer) = Self.parse(text) else { return (.unparsed, nil, nil) }
            guard let answer else { return (.noNumericAnswer, question, nil) }
            let w = TextOverlap.words(question)
            if w.count < minimumWords { return (.tooShort, question, answer) }
            let lower = question.lowercased()
            if ["the document", "the text", "the passage", "the article", "above"].contains(where: lower.contains) {
                return (.refersToDocument, question, answer)
            }
            if kept.contains(where: { TextOverlap.rougeL(w, $0) >= duplicateRougeL }) { return (.duplicate, question, answer) }
            if !TextOverlap.ngrams(w, n: contaminationNGram).isDisjoint(with: evalGrams)
                || evalWords.contains(where: { TextOverlap.rougeL(w, $0) >= duplicateRougeL }) {
                return (.contaminated, question, answer)
            }
            kept.append(w)
            return (.kept, question, answer)
        }
    }
}
