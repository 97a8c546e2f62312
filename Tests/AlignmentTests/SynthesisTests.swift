import Testing
import Foundation
import Alignment

/// Question synthesis: overlap measures against hand-worked values, parsing, and the screening order.
struct SynthesisTests {
    @Test func rougeLAndNGrams() {
        func r(_ a: String, _ b: String) -> Double { TextOverlap.rougeL(TextOverlap.words(a), TextOverlap.words(b)) }
        // LCS "the cat on the mat" = 5 words: P = 5/6, R = 5/5, F = 10/11.
        #expect(abs(r("The cat sat on the mat.", "the cat on the mat") - 10.0 / 11.0) < 1e-12)
        #expect(abs(r("a b c d", "d c b a") - 0.25) < 1e-12)
        #expect(r("one two", "three four") == 0 && r("", "x") == 0 && r("Same words, here", "same WORDS here") == 1)
        #expect(TextOverlap.ngrams(["a", "b", "c"], n: 2) == [["a", "b"], ["b", "c"]])
        #expect(TextOverlap.ngrams(["a"], n: 2) == [["a"]])
    }

    @Test func questionsAndAnswersParse() {
        let p = QuestionSynthesis.parse("Sure!\nQuestion: How many loaves are sold?\nAnswer: 110 loaves")
        #expect(p?.question == "How many loaves are sold?" && p?.answer == "110")
        #expect(QuestionSynthesis.parse("Question: Total?\nAnswer: about 1,150.")?.answer == "1150")
        #expect(QuestionSynthesis.parse("Question: Change?\nAnswer: -3.5 degrees")?.answer == "-3.5")
        #expect(QuestionSynthesis.parse("Question: Who?\nAnswer: the baker")?.answer == nil)
        #expect(QuestionSynthesis.parse("Question: Who?\nAnswer: the baker") != nil)
        #expect(QuestionSynthesis.parse("Question: no answer line") == nil)
        #expect(QuestionSynthesis.parse("Answer: 4") == nil)
    }

    /// Each candidate gets the first status that applies, and duplicates are judged against the questions
    /// kept before it (and the existing ones), not against dropped ones.
    @Test func screeningKeepsNewSelfContainedQuestions() {
        let s = QuestionSynthesis()
        let eval = ["Ann has 10 beads, gets 5, gives 2, gets 7. How many now?"]
        let texts = [
            "Question: A shelf holds 8 rows of 12 boxes. How many boxes fit on 15 shelves?\nAnswer: 1440",
            "Question: A shelf holds 8 rows of 12 boxes. How many boxes fit on 16 shelves?\nAnswer: 1536",  // ROUGE-L 0.94
            "Question: Ann has 10 beads, gets 5, gives 2, gets 7. How many now, in total?\nAnswer: 20",       // shares an 8-gram
            "Question: According to the document, how many cows are there?\nAnswer: 35",
            "Answer: 3",
            "Question: What colour is the door?\nAnswer: green",
            "Question: How many seats are on a train of 6 carriages of 72 seats?\nAnswer: 432",
            "Question: Bob had 9 books and sold 4; how many are left?\nAnswer: 5",
            "Question: 20\nAnswer: 3",
        ]
        let out = s.screen(texts, existing: ["Bob had 9 books and sold 4. How many are left?"], evaluation: eval)
        #expect(out.map(\.status) == [.kept, .duplicate, .contaminated, .refersToDocument, .unparsed, .noNumericAnswer, .kept, .duplicate, .tooShort])
        #expect(out[6].question == "How many seats are on a train of 6 carriages of 72 seats?" && out[6].answer == "432")
    }

    /// Prompt synthesis: the instruction after the last label, screened against the seeds and earlier kept ones.
    @Test func promptSynthesisParsesAndScreensNewInstructions() {
        #expect(PromptSynthesis.parse("Sure! Instruction: \"Describe a sunrise over the sea.\"\n\nHope this helps.") == "Describe a sunrise over the sea.")
        #expect(PromptSynthesis.parse("Instruction 9: List three uses of salt.") == "List three uses of salt.")
        #expect(PromptSynthesis.parse("Explain why leaves fall.") == "Explain why leaves fall.")
        #expect(PromptSynthesis.parse("Instruction:   \n") == nil)
        let p = PromptSynthesis()
        let prompt = p.prompt(examples: ["Write a haiku.", "Name a river."])
        #expect(prompt.contains("Instruction 1: Write a haiku.\nInstruction 2: Name a river.") && !prompt.contains("{examples}"))
        let out = p.screen(["Instruction: Write a short poem about the first snow of winter.",   // a seed
                            "Instruction: Explain how a bicycle gear works to a child.",
                            "Instruction: Explain how a bicycle gear works to a child, simply.", // duplicate of the one before
                            "Instruction: Hi there",
                            "Instruction: Ann has 10 beads, gets 5, gives 2, gets 7. How many now?"],
                           existing: ["Write a short poem about the first snow of winter."],
                           evaluation: ["Ann has 10 beads, gets 5, gives 2, gets 7. How many now?"])
        #expect(out.map(\.status) == [.duplicate, .kept, .duplicate, .tooShort, .contaminated])
    }
}
