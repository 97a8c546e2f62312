import Testing
import Foundation
import Alignment
import Generation

/// Verdicts read from probabilities, with scripted log-probabilities: the normalisation, both orders,
/// ties, flips, multi-token score strings and reasoning cut by its limit.
struct LogprobJudgeTests {
    /// Answers every query from a function of its prompt, prefix and candidate; records the queries.
    final class ScriptedScorer: VerdictScorer {
        let logp: (VerdictQuery, String) -> Double
        var queries: [VerdictQuery] = []
        init(_ logp: @escaping (VerdictQuery, String) -> Double) { self.logp = logp }
        func logprobs(_ queries: [VerdictQuery]) throws -> [[Double]] {
            self.queries += queries
            return queries.map { q in q.candidates.map { logp(q, $0) } }
        }
    }

    final class ScriptedWriter: CompletionService {
        let answer: (String, Int) -> Completion
        var stops: [String] = []
        init(_ answer: @escaping (String, Int) -> Completion) { self.answer = answer }
        func generate(_ prompts: [String], samples: Int, params: SamplingParameters) throws -> [[Completion]] {
            stops = params.stop
            return prompts.map { p in (0..<samples).map { answer(p, $0) } }
        }
    }

    @Test func distributionNormalisesOverTheSetWhateverTheScale() {
        // Sequence log-probs of 0.02, 0.03 and 0.05 (the set holds a tenth of the mass): 0.2, 0.3, 0.5.
        let d = VerdictDistribution(candidates: ["1", "2", "3"], logprobs: [log(0.02), log(0.03), log(0.05)])
        for (p, e) in zip(d.probabilities, [0.2, 0.3, 0.5]) { #expect(abs(p - e) < 1e-15) }
        #expect(abs(d.entropy - -(0.2 * log(0.2) + 0.3 * log(0.3) + 0.5 * log(0.5))) < 1e-15)
        #expect(abs(d.expectation([1, 2, 3]) - 2.3) < 1e-15)
        #expect(d.mostLikely == 2)
        // Far below any float: still normalised, not NaN.
        let tiny = VerdictDistribution(candidates: ["A", "B"], logprobs: [-2000, -2000 + log(3)])
        #expect(abs(tiny.probabilities[1] - 0.75) < 1e-12)
    }

    @Test func pairwiseAveragesTheTwoOrdersAndCallsTiesWithinTheMargin() throws {
        // P(A) in each order, keyed by the response shown as A.
        let pA: [String: Double] = ["good1": 0.9, "bad1": 0.3,   // prefers good both ways: p_first = (0.9 + 0.7) / 2 = 0.8
                                    "good2": 0.8, "bad2": 0.78,  // names A both times: flipped, p_first = 0.51 -> tie at 0.05
                                    "good3": 0.2, "bad3": 0.6]   // prefers bad: p_first = (0.2 + 0.4) / 2 = 0.3
        let scorer = ScriptedScorer { q, c in
            let a = q.prompt.components(separatedBy: "[The Start of Assistant A's Answer]\n")[1].components(separatedBy: "\n")[0]
            return log(c == "A" ? pA[a]! : 1 - pA[a]!) - 5
        }
        let judge = LogprobPairwiseJudge(tieMargin: 0.05)
        let r = try judge.judge([("q", "good1", "bad1"), ("q", "good2", "bad2"), ("q", "good3", "bad3")], scorer: scorer, service: nil)
        #expect(scorer.queries.count == 6 && scorer.queries.allSatisfy { $0.answerPrefix == "[[" && $0.candidates == ["A", "B"] })
        #expect(r.map(\.verdict) == [.first, .tie, .second])
        for (res, e) in zip(r, [0.8, 0.51, 0.3]) { #expect(abs(res.probabilityFirst! - e) < 1e-12) }
        #expect(r.map(\.flipped) == [false, true, false])
        #expect(abs(r[1].forwardA! - 0.8) < 1e-12 && abs(r[1].backwardA! - 0.78) < 1e-12)
        #expect(r.map { $0.forward! + $0.backward! } == ["AB", "AA", "BA"])
        // A zero margin decides 0.51 for the first response.
        #expect(try LogprobPairwiseJudge(tieMargin: 0).judge([("q", "good2", "bad2")], scorer: scorer, service: nil)[0].verdict == .first)
    }

    /// Two identical responses get the same P(A) in both orders, hence exactly one half and a tie even at
    /// margin 0, whatever P(A) is. Summing P(A) of one order and P(B) of the other (each normalised on its
    /// own) misses one half by a rounding error for some P(A), which at margin 0 was a win or a loss (a
    /// real win-rate record: P(A) 0.7651902350393982 in both orders, p_first 0.49999999999999994).
    @Test func identicalResponsesTieExactlyAtZeroMargin() throws {
        let values = (1..<1000).map { Double($0) / 1000 } + [0.7651902350393982, 0.8348723037659603]
        var missedBySum = 0
        for pA in values {
            let scorer = ScriptedScorer { _, c in c == "A" ? log(pA) - 3 : log(1 - pA) - 3 }
            let r = try LogprobPairwiseJudge(tieMargin: 0).judge([("q", "same", "same")], scorer: scorer, service: nil)[0]
            #expect(r.probabilityFirst == 0.5 && r.verdict == .tie, "P(A) \(pA): p_first \(r.probabilityFirst!)")
            let d = VerdictDistribution(candidates: ["A", "B"], logprobs: [log(pA) - 3, log(1 - pA) - 3])
            if (d.probabilities[0] + d.probabilities[1]) / 2 != 0.5 { missedBySum += 1 }
        }
        #expect(missedBySum > 0, "the sum of the two orders' probabilities is exactly one half for every value tried")
    }

    @Test func pointwiseTakesTheExpectationOverScoreStringsOfSeveralTokens() throws {
        // Scores 0...10: the scorer favours "10" (two tokens in most vocabularies; here just a string).
        let scores = (0...10).map(String.init)
        let weights: [String: Double] = ["10": 6, "7": 3, "0": 1]
        let scorer = ScriptedScorer { _, c in log(weights[c] ?? 1e-300) }
        let judge = LogprobPointwiseJudge(scores: scores)
        let r = try judge.judge([("q", "r")], scorer: scorer, service: nil)[0]
        #expect(scorer.queries[0].answerPrefix == "Score: " && scorer.queries[0].candidates == scores)
        #expect(abs(r.score - (10 * 0.6 + 7 * 0.3)) < 1e-9 && r.judgments[0].mostLikely == 10)
        #expect(r.judgments[0].reasoning == nil && !r.judgments[0].cut)
    }

    @Test func reasoningFirstForcesThePrefixAfterTheReasoningAndCountsCuts() throws {
        let writer = ScriptedWriter { p, j in
            p.contains("long") ? Completion(text: "it goes on and on", finishReason: "length") : Completion(text: "short and right \(j) ", finishReason: "stop")
        }
        let scorer = ScriptedScorer { _, c in c == "4" ? 0 : -50 }
        var params = SamplingParameters()
        params.maxNewTokens = 16
        let judge = LogprobPointwiseJudge(reasoning: ReasoningFirst(params: params), judgments: 2)
        let r = try judge.judge([("q", "short"), ("q", "long")], scorer: scorer, service: writer)
        #expect(writer.stops == ["Score:"])
        #expect(scorer.queries.map(\.answerPrefix) == ["short and right 0\nScore: ", "short and right 1\nScore: ",
                                                      "it goes on and on\nScore: ", "it goes on and on\nScore: "])
        #expect(r[0].judgments.map(\.cut) == [false, false] && r[1].judgments.map(\.cut) == [true, true])
        #expect(abs(r[0].score - 4) < 1e-9 && r[0].judgments[1].reasoning == "short and right 1 ")
        // Pairwise reasoning stops at "[[" and forces it.
        let pw = try LogprobPairwiseJudge(reasoning: ReasoningFirst(params: params)).judge([("q", "x", "y")], scorer: scorer, service: writer)
        #expect(writer.stops == ["[["] && scorer.queries.suffix(2).allSatisfy { $0.answerPrefix.hasSuffix("\n[[") } && pw[0].cut == 0)
        #expect(throws: (any Error).self) { try judge.judge([("q", "r")], scorer: scorer, service: nil) }
    }

    @Test func verifierReadsYesAgainstNo() throws {
        let scorer = ScriptedScorer { q, c in q.prompt.contains("Answer:\n4") || q.prompt.contains("\n4\n") ? (c == "Yes" ? log(0.9) : log(0.1)) : (c == "Yes" ? log(0.2) : log(0.8)) }
        let p = try LogprobVerifier().verify([("2+2?", "4"), ("2+2?", "5")], scorer: scorer)
        #expect(abs(p[0] - 0.9) < 1e-12 && abs(p[1] - 0.2) < 1e-12)
        #expect(scorer.queries.allSatisfy { $0.answerPrefix.isEmpty && $0.candidates == ["Yes", "No"] })
    }
}
