import Testing
import Alignment

/// Prompt templates are filled in one pass: text put in is never read as a placeholder again.
struct PlaceholderTests {
    @Test func substitutedTextIsNotScannedAgain() {
        let filled = Placeholders.fill("Q: {instruction}\nA: {response}", ["instruction": "say {response} twice", "response": "R"])
        #expect(filled == "Q: say {response} twice\nA: R")
    }

    @Test func everyOccurrenceIsFilledAndOtherBracesStay() {
        #expect(Placeholders.fill("{x}-{x} {y} {unknown} { {x", ["x": "1", "y": "{x}"]) == "1-1 {x} {unknown} { {x")
        #expect(Placeholders.fill("", ["x": "1"]) == "")
        #expect(Placeholders.fill("}{}{x}", ["x": "é"]) == "}{}é")
    }

    /// A response that spells the other response's placeholder keeps those characters, in the judges' own
    /// templates (before, the second response was spliced into the first).
    @Test func aHostileResponseCannotPullTheOtherOneIn() {
        let t = JudgeTemplates()
        let prompt = t.fillPairwise(instruction: "q", a: "I am {response_b} and {instruction}", b: "SECRET")
        #expect(prompt.components(separatedBy: "SECRET").count == 2, "the other response appears once, in its own place")
        #expect(prompt.contains("I am {response_b} and {instruction}"))
        let meta = MetaJudge.fill(MetaJudge.defaultTemplate, instruction: "q", response: "{judgement_b}", a: "A", b: "B")
        #expect(meta.contains("{judgement_b}") && meta.components(separatedBy: "Judgment B: B").count == 2)
    }
}
