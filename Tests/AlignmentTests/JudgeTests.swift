import Testing
import Foundation
import Alignment
import Generation
import Kernels
import TestSupport

struct JudgeTests {
    @Test func finalAnswersAreExtractedAndCompared() {
        #expect(VerifiableJudge.extractAnswer("3 + 4 = 7 apples.\n#### 7") == "7")
        #expect(VerifiableJudge.extractAnswer("so the answer is \\boxed{\\frac{1}{2}} done") == "\\frac{1}{2}")
        #expect(VerifiableJudge.extractAnswer("He paid $1,234.50 in total.") == "1,234.50")
        #expect(VerifiableJudge.extractAnswer("It dropped to -12 degrees.") == "-12")
        #expect(VerifiableJudge.extractAnswer("no numbers here") == nil)
        // Chat-style answers: a Markdown heading of more than four #, a sentence, bold, units, commas, a
        // trailing full stop; a text answer with no number stays as written.
        #expect(VerifiableJudge.extractAnswer("Let me add.\n\n##### The answer is: 2") == "2")
        #expect(VerifiableJudge.extractAnswer("#### **12 apples**") == "12")
        #expect(VerifiableJudge.extractAnswer("So she has 3,000 - 250 = 2,750.\n#### $2,750") == "$2,750")
        #expect(VerifiableJudge.extractAnswer("#### 1,234 dollars.") == "1,234")
        #expect(VerifiableJudge.extractAnswer("#### 42.") == "42.")
        #expect(VerifiableJudge.extractAnswer("### Answer\nThe total is **7** cookies.") == "7")
        #expect(VerifiableJudge.extractAnswer("#### Paris") == "Paris")
        #expect(VerifiableJudge.extractAnswer("####\n") == nil)
        #expect(VerifiableJudge.isCorrect("##### The answer is: 2,750 coins", reference: "2750"))
        #expect(!VerifiableJudge.isCorrect("#### 2750 + 1 = 2751", reference: "2750"))
        #expect(VerifiableJudge.same("1,234.50", "1234.5") && VerifiableJudge.same("$7", "7.") && !VerifiableJudge.same("7", "8"))
        #expect(VerifiableJudge.same("x = y", "x  =  y") && !VerifiableJudge.same("Paris", "paris"))
        #expect(VerifiableJudge.isCorrect("... #### 42", reference: "work shown #### 42"))
        #expect(!VerifiableJudge.isCorrect("... #### 41", reference: "42"))
        #expect(SelfConsistency.votes(["#### 5", "#### 5.0", "#### 6", "nothing", "answer 5"]) == [3, 3, 1, 0, 3])
    }

    @Test func scoresAndVerdictsParseTolerantly() {
        #expect(JudgeParsing.score("Good answer.\nScore: 4") == 4)
        #expect(JudgeParsing.score("score - 3.5 overall") == 3.5)
        #expect(JudgeParsing.score("I give it a score of 2/5.") == 2)
        #expect(JudgeParsing.score("Score: 3\n... revised Score: 5") == 5)
        #expect(JudgeParsing.score("Score: 9") == nil && JudgeParsing.score("no verdict") == nil)
        #expect(JudgeParsing.verdict("... so [[B]]") == "B" && JudgeParsing.verdict("[[B]] no wait [[A]]") == "A")
        #expect(JudgeParsing.verdict("A is better") == nil)
        #expect(PairwiseJudge.combine(forward: "A", backward: "B") == .first)
        #expect(PairwiseJudge.combine(forward: "B", backward: "A") == .second)
        #expect(PairwiseJudge.combine(forward: "A", backward: "A") == .tie)
        #expect(PairwiseJudge.combine(forward: nil, backward: "A") == .unparsed)
    }

    /// A fake service answering from a lookup, to test the judges' bookkeeping.
    final class Scripted: CompletionService {
        let answer: (String, Int) -> String
        var prompts: [String] = []
        init(_ answer: @escaping (String, Int) -> String) { self.answer = answer }
        func generate(_ prompts: [String], samples: Int, params: SamplingParameters) throws -> [[Completion]] {
            self.prompts += prompts
            return prompts.map { p in (0..<samples).map { Completion(text: answer(p, $0)) } }
        }
    }

    @Test func pointwiseJudgeAveragesParsedScoresAndCountsTheRest() throws {
        let service = Scripted { p, j in p.contains("good") ? ["Score: 4", "Score: 5", "meh"][j] : ["nothing", "no", "??"][j] }
        let judge = PointwiseJudge(judgments: 3, params: SamplingParameters())
        let r = try judge.judge([("q", "a good reply"), ("q", "a bad reply")], with: service)
        #expect(r[0].score == 4.5 && r[0].unparsed == 1)
        #expect(r[1].score == nil && r[1].unparsed == 3)
        #expect(service.prompts[0].contains("<response>a good reply</response>") && service.prompts[0].contains("User: q"))
    }

    @Test func pairwiseJudgeRunsBothOrders() throws {
        // A judge that always prefers whatever is shown first: position bias, which both orders cancel.
        let biased = Scripted { _, _ in "[[A]]" }
        let r = try PairwiseJudge(params: SamplingParameters()).judge([("q", "x", "y")], with: biased)
        #expect(r[0].verdict == .tie && biased.prompts.count == 2)
        let fair = Scripted { p, _ in
            let a = p.range(of: "Assistant A's Answer]\n")!.upperBound
            return p[a...].hasPrefix("right") ? "[[A]]" : "[[B]]"
        }
        #expect(try PairwiseJudge(params: SamplingParameters()).judge([("q", "wrong", "right")], with: fair)[0].verdict == .second)
    }

    @Test func pairBuilders() {
        func c(_ i: Int, score: Double? = nil, correct: Bool? = nil, votes: Int? = nil, length: Int = 10) -> Candidate {
            Candidate(sampleIndex: i, text: "r\(i)", score: score, correct: correct, votes: votes, length: length)
        }
        #expect(PairBuilders.bestVsWorst([c(0, score: 3), c(1, score: 5), c(2, score: 1), c(3, score: 5)]) == Preference(chosen: 1, rejected: 2))
        #expect(PairBuilders.bestVsWorst([c(0, score: 3), c(1, score: 3), c(2)]) == nil)  // ties dropped
        var rng = RandomStream(key: 1, 2, 3)
        let civ = PairBuilders.correctVsIncorrect([c(0, correct: true), c(1, correct: false), c(2, correct: true), c(3, correct: false)], maxPairs: 3, rng: &rng)
        #expect(civ.count == 3 && Set(civ.map { "\($0.chosen)-\($0.rejected)" }).count == 3)
        #expect(civ.allSatisfy { [0, 2].contains($0.chosen) && [1, 3].contains($0.rejected) })
        #expect(PairBuilders.correctVsIncorrect([c(0, correct: true)], maxPairs: 3, rng: &rng).isEmpty)
        // Self-consistency with k = 8: votes 5 vs 1 -> weight (5 - 1) / 8 = 0.5; kept at tau 0.5 (5 >= 4), not at 0.7 (5 < 5.6).
        let sc = [c(0, votes: 5), c(1, votes: 1), c(2, votes: 2), c(3, votes: 5), c(4, votes: 5), c(5, votes: 5), c(6, votes: 5), c(7, votes: 2)]
        #expect(PairBuilders.selfConsistency(sc, tau: 0.5) == Preference(chosen: 0, rejected: 1, weight: 0.5))
        #expect(PairBuilders.selfConsistency(sc, tau: 0.7) == nil)
        // Length control: scores 5, 4.5, 1, 1.5 with lengths 30, 10, 5, 40. rho 0: shortest of the best (only 0) vs
        // longest of the worst (only 2). rho 0.25: top band >= 4 (0 and 1: shortest is 1), bottom band <= 2 (2 and 3: longest is 3).
        let lc = [c(0, score: 5, length: 30), c(1, score: 4.5, length: 10), c(2, score: 1, length: 5), c(3, score: 1.5, length: 40)]
        #expect(PairBuilders.lengthControlled(lc, rho: 0) == Preference(chosen: 0, rejected: 2))
        #expect(PairBuilders.lengthControlled(lc, rho: 0.25) == Preference(chosen: 1, rejected: 3))
    }

    @Test func ripKeepsByPercentilesAndLiftAugments() {
        #expect(percentile([1, 2, 3, 4], 50) == 2.5 && percentile([5], 90) == 5)
        let items = [RIPFilter.Item(rejectedReward: 1, rejectedLength: 100, chosenReward: 5),   // low rejected reward
                     RIPFilter.Item(rejectedReward: 4, rejectedLength: 120, chosenReward: 5),   // kept
                     RIPFilter.Item(rejectedReward: 3, rejectedLength: 10, chosenReward: 4),    // short rejected
                     RIPFilter.Item(rejectedReward: 4.5, rejectedLength: 200, chosenReward: 5)] // kept
        // medians: rejected reward 3.5, length 110, gap (4, 1, 1, 0.5) -> 1
        #expect(RIPFilter().keep(items) == [1, 3])
        let lift = LengthInstructions(minDifference: 10, slack: 5)
        let long = Array(repeating: "word", count: 30).joined(separator: " ")
        let short = Array(repeating: "w", count: 8).joined(separator: " ")
        let aug = lift.augment(instruction: "Explain.", chosen: long, rejected: short)
        #expect(aug.count == 2)
        #expect(aug[0].limit == 35 && aug[0].chosen == long && aug[0].prompt == "Answer the following instruction using 35 words or less.\n\nExplain.")
        #expect(aug[1].limit == 19 && aug[1].chosen == short && aug[1].rejected == long)
        #expect(lift.augment(instruction: "x", chosen: short, rejected: short + " a b").isEmpty)
        #expect(LengthInstructions.complies(short, limit: 8) && !LengthInstructions.complies(long, limit: 29))
    }
}

struct RecordTests {
    @Test func recordsRoundTripAndBadLinesNameFileLineAndField() throws {
        let dir = Paths.temporaryDirectory("records")
        let pairs = [PairRecord(promptId: "7", prompt: "q", chosen: "a", rejected: "b", weight: 0.5, refChosenLogps: -3, refRejectedLogps: -4),
                     PairRecord(promptIds: [1, 2], chosenIds: [3], rejectedIds: [4, 5])]
        let path = dir.appendingPathComponent("pairs.jsonl").path
        try RecordFile.write(pairs, to: path)
        #expect(try RecordFile.read(PairRecord.self, from: path) == pairs)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("\"chosen\":\"a\"") && text.contains("\"ref_chosen_logps\":-3"))
        let gens = [GenerationRecord(promptId: "p1", sampleIndex: 2, text: "x", tokenIds: [9, 8], logprob: -1.5, finishReason: "stop")]
        try RecordFile.write(gens, to: dir.appendingPathComponent("g.jsonl").path)
        #expect(try RecordFile.read(GenerationRecord.self, from: dir.appendingPathComponent("g.jsonl").path) == gens)
        // numeric ids are read as strings
        try "{\"id\": 12, \"prompt\": \"hi\", \"reference\": 5}\n".write(toFile: dir.appendingPathComponent("p.jsonl").path, atomically: true, encoding: .utf8)
        #expect(try RecordFile.read(PromptRecord.self, from: dir.appendingPathComponent("p.jsonl").path) == [PromptRecord(id: "12", prompt: "hi", reference: "5")])
        let cases: [(String, String)] = [
            ("{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\"}\n{\"prompt\": \"q\", \"chosen\": \"a\"}\n", "bad.jsonl:2"),
            ("{\"prompt_ids\": [1], \"chosen_ids\": \"x\", \"rejected_ids\": [2]}\n", "field 'chosen_ids'"),
            ("{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\", \"weight\": -1}\n", "weight"),
            ("{not json\n", "not valid JSON"),
        ]
        for (text, needle) in cases {
            let bad = dir.appendingPathComponent("bad.jsonl").path
            try text.write(toFile: bad, atomically: true, encoding: .utf8)
            do { _ = try RecordFile.read(PairRecord.self, from: bad); Issue.record("accepted \(text)") } catch {
                #expect("\(error)".contains("bad.jsonl:") && "\(error)".contains(needle), "\(error)")
            }
        }
    }
}
