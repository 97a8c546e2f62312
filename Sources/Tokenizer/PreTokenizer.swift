/// The splitting regexes of the byte-level BPE families, written out as scanners over unicode scalars
/// (exactly the alternations of the patterns, in order, with the same greedy/backtracking outcome).
public enum SplitPattern: String, Sendable, CaseIterable {
    /// GPT-2 / SmolLM: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    case gpt2
    /// Llama-3 (cl100k-like), digits in runs of up to 3.
    case llama3
    /// Qwen2: as Llama-3 with single digits.
    case qwen2

    public static let gpt2Regex = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
    public static let llama3Regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
    public static let qwen2Regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

    public var regex: String {
        switch self {
        case .gpt2: return Self.gpt2Regex
        case .llama3: return Self.llama3Regex
        case .qwen2: return Self.qwen2Regex
        }
    }

    public init?(regex: String) {
        guard let p = SplitPattern.allCases.first(where: { $0.regex == regex }) else { return nil }
        self = p
    }
}

/// Character classes as the Oniguruma/Rust regex engines see them.
@usableFromInline
enum CharClass {
    @inline(__always) static func isLetter(_ s: Unicode.Scalar) -> Bool {
        if s.value < 128 { return (s.value | 0x20) >= 97 && (s.value | 0x20) <= 122 }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }
    @inline(__always) static func isNumber(_ s: Unicode.Scalar) -> Bool {
        if s.value < 128 { return s.value >= 48 && s.value <= 57 }
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }
    @inline(__always) static func isSpace(_ s: Unicode.Scalar) -> Bool {
        if s.value < 128 { return s.value == 32 || (s.value >= 9 && s.value <= 13) }
        return s.properties.isWhitespace
    }
    @inline(__always) static func isNewline(_ s: Unicode.Scalar) -> Bool { s.value == 10 || s.value == 13 }
}

public enum PreTokenizer {
    /// Splits `text` into pieces (ranges of `scalars`) by `pattern`.
    public static func split(_ s: [Unicode.Scalar], range: Range<Int>, pattern: SplitPattern,
                             into out: inout [Range<Int>]) {
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            let j = match(s, at: i, end: end, pattern: pattern)
            out.append(i..<j)
            i = j
        }
    }

    /// Isolates every numeric character (the Digits pre-tokenizer with individual_digits).
    public static func splitDigits(_ s: [Unicode.Scalar], range: Range<Int>, into out: inout [Range<Int>]) {
        var start = range.lowerBound
        for i in range where CharClass.isNumber(s[i]) {
            if start < i { out.append(start..<i) }
            out.append(i..<(i + 1))
            start = i + 1
        }
        if start < range.upperBound { out.append(start..<range.upperBound) }
    }

    /// End of the match starting at i (always > i).
    static func match(_ s: [Unicode.Scalar], at i: Int, end: Int, pattern: SplitPattern) -> Int {
        let c = s[i]
        // Contractions: 's 't 're 've 'm 'll 'd (case-insensitive for Llama-3 and Qwen2).
        if c == "'" && i + 1 < end {
            let fold = pattern != .gpt2
            func lower(_ x: Unicode.Scalar) -> Unicode.Scalar {
                fold && x.value >= 65 && x.value <= 90 ? Unicode.Scalar(x.value + 32)! : x
            }
            let a = lower(s[i + 1])
            if a == "s" || a == "t" || a == "m" || a == "d" { return i + 2 }
            if i + 2 < end {
                let b = lower(s[i + 2])
                if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { return i + 3 }
            }
        }
        switch pattern {
        case .gpt2:
            let hasSpace = c == " " && i + 1 < end
            let k = hasSpace ? i + 1 : i
            let d = s[k]
            if CharClass.isLetter(d) { return run(s, from: k, end: end, CharClass.isLetter) }
            if CharClass.isNumber(d) { return run(s, from: k, end: end, CharClass.isNumber) }
            if !CharClass.isSpace(d) { return run(s, from: k, end: end, isOther) }
        case .llama3, .qwen2:
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if CharClass.isLetter(c) { return run(s, from: i, end: end, CharClass.isLetter) }
            if !CharClass.isNewline(c) && !CharClass.isNumber(c) && i + 1 < end && CharClass.isLetter(s[i + 1]) {
                return run(s, from: i + 1, end: end, CharClass.isLetter)
            }
            // \p{N}{1,3} or \p{N}
            if CharClass.isNumber(c) {
                let limit = pattern == .llama3 ? 3 : 1
                var j = i + 1
                while j < end && j - i < limit && CharClass.isNumber(s[j]) { j += 1 }
                return j
            }
            //  ?[^\s\p{L}\p{N}]+[\r\n]*
            let k = (c == " " && i + 1 < end) ? i + 1 : i
            if isOther(s[k]) {
                var j = run(s, from: k, end: end, isOther)
                while j < end && CharClass.isNewline(s[j]) { j += 1 }
                return j
            }
            // \s*[\r\n]+ : through the last newline of the whitespace run
            if CharClass.isSpace(c) {
                let j = run(s, from: i, end: end, CharClass.isSpace)
                var lastNL = -1
                for p in i..<j where CharClass.isNewline(s[p]) { lastNL = p }
                if lastNL >= 0 { return lastNL + 1 }
            }
        }
        // \s+(?!\S) then \s+
        if CharClass.isSpace(c) {
            let j = run(s, from: i, end: end, CharClass.isSpace)
            if j == end || j - i == 1 { return j }
            return j - 1
        }
        return i + 1  // unreachable for these patterns: every scalar is a letter, number, space or other
    }

    @inline(__always) static func isOther(_ x: Unicode.Scalar) -> Bool {
        !CharClass.isSpace(x) && !CharClass.isLetter(x) && !CharClass.isNumber(x)
    }

    @inline(__always) static func run(_ s: [Unicode.Scalar], from i: Int, end: Int,
                                      _ pred: (Unicode.Scalar) -> Bool) -> Int {
        var j = i
        while j < end && pred(s[j]) { j += 1 }
        return j
    }
}
