import Testing
import Foundation
import Tokenizer
import TestSupport

/// The hand-written scanners against Python's `regex` module running the original patterns.
struct PreTokenizerTests {
    static let samples: [String] = [
        "Hello, world! It's 2024 and I'm    here.\n\nNew   line\t\ttabs  ",
        "don't DON'T we'll WE'LL they've I'd you're it's",
        "12345 + 678 = 13023; 3.14159 and 1,000,000",
        "  leading spaces and trailing   ",
        "naïve café — “quotes” ‘single’ … ½ ¾ Ⅻ ٣ 五",
        "日本語のテキスト、中文文本。한국어 텍스트",
        "emoji 😀👍🏽 and 🇫🇷 flags",
        "code: def f(x):\n    return x**2  # square\r\n\r\nend",
        "\n\n\n  \n \t\n",
        "a\u{00A0}b\u{2003}c\u{3000}d",
        "'s 'S 'Re 'LL 'x ' 'll'",
        "x\ry\r\n\rz",
    ]

    func pythonSplit(_ pattern: String, _ texts: [String]) throws -> [[String]] {
        let script = """
        import json, sys, regex
        pattern, texts = json.load(sys.stdin)
        print(json.dumps([regex.findall(pattern, t) for t in texts]))
        """
        let input = String(data: try JSONSerialization.data(withJSONObject: [pattern, texts]), encoding: .utf8)!
        let r = try run(["python3", "-c", script], stdin: input)
        #expect(r.status == 0, "python: \(r.stderr)")
        return try JSONSerialization.jsonObject(with: r.stdout.data(using: .utf8)!) as! [[String]]
    }

    func ours(_ text: String, _ pattern: SplitPattern) -> [String] {
        let s = Array(text.unicodeScalars)
        var ranges: [Range<Int>] = []
        PreTokenizer.split(s, range: 0..<s.count, pattern: pattern, into: &ranges)
        return ranges.map { r in var v = String.UnicodeScalarView(); v.append(contentsOf: s[r]); return String(v) }
    }

    @Test(arguments: SplitPattern.allCases)
    func scannerMatchesTheRegexEngine(pattern: SplitPattern) throws {
        let expected = try pythonSplit(pattern.regex, Self.samples)
        for (text, want) in zip(Self.samples, expected) {
            #expect(ours(text, pattern) == want, "\(pattern) on \(text.debugDescription)")
        }
    }

    @Test func digitsAreIsolated() {
        let s = Array("ab12 c3½".unicodeScalars)
        var out: [Range<Int>] = []
        PreTokenizer.splitDigits(s, range: 0..<s.count, into: &out)
        #expect(out == [0..<2, 2..<3, 3..<4, 4..<6, 6..<7, 7..<8])
    }
}

struct BPETests {
    /// A hand-built vocabulary: merges h+e, l+l, he+ll, hell+o; "hello" must become one token, and the
    /// merge order (rank) decides ties.
    @Test func mergesApplyInRankOrder() throws {
        var tokens = (0..<256).map { String(ByteLevel.byteToScalar[$0]) }
        tokens += ["he", "ll", "hell", "hello", "lo"]
        let merges = [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), ("l", "o")]
        let t = try BPETokenizer(tokens: tokens, merges: merges, addedTokens: [AddedToken(id: 255, content: "<x>", special: true)],
                                 preTokenization: PreTokenization(pattern: .gpt2), source: "test")
        #expect(t.encode("hello") == [259])
        // "llo": l+l (rank 1) beats l+o (rank 4).
        #expect(t.encode("llo") == [257, Int32(UInt8(ascii: "o"))])
        #expect(t.decode(t.encode("hello wörld")) == "hello wörld")
        // The special token is matched in text only when asked.
        #expect(t.encode("a<x>b") == [97, 255, 98])
        #expect(t.encode("a<x>b", parseSpecial: false).count == 5)
    }

    @Test func byteTokenizerRoundTripsAnyText() {
        let t = BPETokenizer.bytes()
        #expect(t.vocabularySize == 259)
        let text = "Ünïcödé ✓ <|im_start|>user\n\u{1F600}"
        let ids = t.encode(text)
        #expect(ids.contains(257))
        #expect(t.decode(ids) == text)
        #expect(t.encode("abc", parseSpecial: false) == [97, 98, 99])
        #expect(t.decode(ids, skipSpecial: true) == "Ünïcödé ✓ user\n\u{1F600}")
    }

    @Test func tokenizerJSONRoundTripsThroughOurReader() throws {
        let t = BPETokenizer.bytes()
        let dir = Paths.temporaryDirectory("tokjson")
        let url = dir.appendingPathComponent("tokenizer.json")
        try t.tokenizerJSON().write(to: url)
        let back = try BPETokenizer.load(tokenizerJSON: url)
        #expect(back.tokens == t.tokens)
        #expect(back.addedTokens == t.addedTokens)
        #expect(back.encode("héllo <|im_end|>") == t.encode("héllo <|im_end|>"))
    }

    @Test func malformedTokenizerJSONGivesAClearError() throws {
        let dir = Paths.temporaryDirectory("badtok")
        let cases: [(String, String)] = [
            ("{not json", "not valid JSON"),
            ("{\"model\": {\"type\": \"WordPiece\"}}", "model.type"),
            ("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", "merge 0"),
            ("{\"normalizer\": {\"type\": \"NFKC\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {}}}", "normalizer"),
            ("{\"model\": {\"type\": \"BPE\", \"vocab\": {}}, \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\w+\"}, \"behavior\": \"Isolated\"}}", "pre_tokenizer"),
        ]
        for (i, (text, needle)) in cases.enumerated() {
            let url = dir.appendingPathComponent("t\(i).json")
            try text.write(to: url, atomically: true, encoding: .utf8)
            do {
                _ = try BPETokenizer.load(tokenizerJSON: url)
                Issue.record("case \(i) loaded")
            } catch {
                let message = "\(error)"
                #expect(message.contains(url.path) && message.contains(needle), "case \(i): \(message)")
            }
        }
    }

    @Test func chatTemplatesRenderAndDetect() {
        let smol = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
        let t = ChatTemplate.detect(from: smol)
        #expect(t == .chatML(defaultSystem: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"))
        #expect(t.render([ChatMessage(role: "user", content: "Hi")]) ==
                "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        #expect(t.render([ChatMessage(role: "system", content: "S"), ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: false) ==
                "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")
        #expect(ChatTemplate.detect(from: "{{ '<|start_header_id|>' }}") == .llama3)
        #expect(ChatTemplate.llama3.render([ChatMessage(role: "user", content: "Hi")]) ==
                "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
        #expect(ChatTemplate.detect(from: nil) == .plain)
    }

    /// Qwen3's template (its generation-prompt part, as published): no default system turn, and with
    /// `enable_thinking` false an empty think block opens the assistant's turn, which is the default here.
    @Test func qwen3TemplateRendersWithThinkingOffUnlessAsked() {
        let qwen3 = "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endfor %}"
            + "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- if enable_thinking is defined and enable_thinking is false %}"
            + "{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}{%- endif %}"
        let t = ChatTemplate.detect(from: qwen3)
        #expect(t == .qwen3(thinking: false))
        #expect(t.render([ChatMessage(role: "user", content: "Hi")]) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n")
        #expect(ChatTemplate.qwen3(thinking: true).render([ChatMessage(role: "user", content: "Hi")]) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        #expect(t.stopStrings == ["<|im_end|>"])
    }
}
