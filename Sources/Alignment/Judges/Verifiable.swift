import Foundation

/// Final-answer extraction and comparison for tasks with checkable answers.
public enum VerifiableJudge {
    /// The final answer of a solution: the rest of the line after the last "####" (the last number in it
    /// when that line is not a number itself, as in "#### The answer is: 2" or "#### **12 apples**"), else
    /// the content of the last \boxed{...}, else the last number. nil when there is none.
    public static func extractAnswer(_ text: String) -> String? {
        if let r = text.range(of: "####", options: .backwards) {
            let tail = text[r.upperBound...].drop { $0 == "#" || $0 == " " || $0 == "\t" }
            let line = tail.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let answer = line.trimmingCharacters(in: .whitespaces)
            if answer.isEmpty { return nil }
            if numericValue(answer) == nil, let number = lastNumber(answer) { return number }
            return answer
        }
        if let boxed = lastBoxed(text) { return boxed }
        return lastNumber(text)
    }

    static func lastBoxed(_ text: String) -> String? {
        guard let r = text.range(of: "\\boxed{", options: .backwards) else { return nil }
        var depth = 1
        var i = r.upperBound
        while i < text.endIndex {
            if text[i] == "{" { depth += 1 } else if text[i] == "}" {
                depth -= 1
                if depth == 0 { return String(text[r.upperBound..<i]).trimmingCharacters(in: .whitespaces) }
            }
            i = text.index(after: i)
        }
        return nil
    }

    /// The last number in the text (optional sign, digits with thousands commas, optional decimals).
    static func lastNumber(_ text: String) -> String? {
        let chars = Array(text)
        var i = chars.count - 1
        while i >= 0 {
            if chars[i].isASCII && chars[i].isNumber {
                var end = i + 1, start = i
                while start > 0 && ((chars[start - 1].isASCII && chars[start - 1].isNumber) || chars[start - 1] == "," || chars[start - 1] == ".") { start -= 1 }
                while start < end && (chars[start] == "," || chars[start] == ".") { start += 1 }
                if start > 0 && chars[start - 1] == "-" { start -= 1 }
                while end > start && (chars[end - 1] == "," || chars[end - 1] == ".") { end -= 1 }
                return String(chars[start..<end])
            }
            i -= 1
        }
        return nil
    }

    /// A number when the answer reads as one ("1,234", "$5", "3.50", "-2", "7.").
    public static func numericValue(_ answer: String) -> Double? {
        var s = answer.trimmingCharacters(in: .whitespaces)
        for junk in ["$", ",", "%"] { s = s.replacingOccurrences(of: junk, with: "") }
        while s.hasSuffix(".") { s.removeLast() }
        guard !s.isEmpty, let v = Double(s), v.isFinite else { return nil }
        return v
    }

    /// Whether two answers agree: numerically when both parse as numbers, else exactly (after trimming
    /// and collapsing whitespace).
    public static func same(_ a: String, _ b: String) -> Bool {
        if let x = numericValue(a), let y = numericValue(b) { return abs(x - y) <= 1e-6 * max(1, abs(y)) }
        func norm(_ s: String) -> String { s.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        return norm(a) == norm(b)
    }

    /// Whether a solution's final answer matches the reference answer (the reference's own final answer
    /// when it is a worked solution).
    public static func isCorrect(_ solution: String, reference: String) -> Bool {
        guard let answer = extractAnswer(solution) else { return false }
        let gold = reference.contains("####") || reference.contains("\\boxed{") ? (extractAnswer(reference) ?? reference) : reference
        return same(answer, gold)
    }
}

/// Self-consistency: V(y) = how many of the k samples share y's final answer.
public enum SelfConsistency {
    /// Votes per sample (0 for a sample with no extractable answer).
    public static func votes(_ samples: [String]) -> [Int] {
        let answers = samples.map(VerifiableJudge.extractAnswer)
        return answers.map { a in
            guard let a else { return 0 }
            return answers.reduce(0) { $0 + (($1.map { VerifiableJudge.same(a, $0) } ?? false) ? 1 : 0) }
        }
    }
}
