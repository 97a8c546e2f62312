import Alignment
import Foundation
import Generation
import Model

/// How well a model judges pairs whose better response is known.
public enum JudgeAccuracy {
    /// The verdicts of every pair, chosen shown first ("forward") and second ("backward"), and what they add up to.
    public struct Report: Sendable {
        public var results: [PairwiseJudge.Result]
        public var pairs: Int { results.count }
        /// Pairs where both orders pick the known-better response (ties and unparsed count as wrong).
        public var correct: Int { results.filter { $0.verdict == .first }.count }
        public var ties: Int { results.filter { $0.verdict == .tie }.count }
        public var unparsed: Int { results.filter { $0.verdict == .unparsed }.count }
        /// Single judgments (two per pair) that pick the known-better response.
        public var singleCorrect: Int { results.filter { $0.forward == "A" }.count + results.filter { $0.backward == "B" }.count }
        /// Single judgments that name the first position (A), and all the parsed ones.
        public var firstPosition: Int { results.filter { $0.forward == "A" }.count + results.filter { $0.backward == "A" }.count }
        public var parsedSingles: Int { results.filter { $0.forward != nil }.count + results.filter { $0.backward != nil }.count }

        /// Pairs whose verdict changed with the order (both orders named the same position).
        public var flips: Int { results.filter(\.flipped).count }
        public var cut: Int { results.reduce(0) { $0 + $1.cut } }
        public var accuracy: Double { pairs == 0 ? 0 : Double(correct) / Double(pairs) }
        /// Read from probabilities: pairs whose order-corrected probability favours the better response at
        /// all (above one half, whatever the tie margin): where a weak judge's signal is, if anywhere.
        public var forcedChoiceCorrect: Int? {
            results.contains { $0.probabilityFirst == nil } ? nil : results.filter { $0.probabilityFirst! > 0.5 }.count
        }
        public var singleAccuracy: Double { pairs == 0 ? 0 : Double(singleCorrect) / Double(2 * pairs) }

        public func json() -> String {
            let ci = Statistics.wilson(successes: correct, trials: pairs)
            let single = Statistics.wilson(successes: singleCorrect, trials: 2 * pairs)
            return "{\"pairs\": \(pairs), \"accuracy\": \(JSONLines.number(accuracy)), \"ci95\": [\(JSONLines.number(ci.low)), \(JSONLines.number(ci.high))], "
                + "\"single_order_accuracy\": \(JSONLines.number(singleAccuracy)), \"single_order_ci95\": [\(JSONLines.number(single.low)), \(JSONLines.number(single.high))], "
                + "\"ties\": \(ties), \"unparsed\": \(unparsed), \"first_position_rate\": \(JSONLines.number(parsedSingles == 0 ? 0 : Double(firstPosition) / Double(parsedSingles))), "
                + "\"position_flip_rate\": \(JSONLines.number(pairs == 0 ? 0 : Double(flips) / Double(pairs))), \"cut_reasonings\": \(cut)"
                + (forcedChoiceCorrect.map { k in
                    let f = Statistics.wilson(successes: k, trials: pairs)
                    return ", \"forced_choice_accuracy\": \(JSONLines.number(Double(k) / Double(max(1, pairs)))), \"forced_choice_ci95\": [\(JSONLines.number(f.low)), \(JSONLines.number(f.high))]"
                } ?? "") + "}"
        }
    }

    /// Judges every pair in both orders (chosen first, then rejected first).
    public static func measure(_ pairs: [LabelledPair], judge: PairwiseJudge, service: CompletionService) throws -> Report {
        Report(results: try judge.judge(pairs.map { ($0.prompt, $0.chosen, $0.rejected) }, with: service))
    }

    /// The same with the verdicts read from probabilities (`service` writes reasonings when the judge asks).
    public static func measure(_ pairs: [LabelledPair], judge: LogprobPairwiseJudge, scorer: VerdictScorer, service: CompletionService?) throws -> Report {
        Report(results: try judge.judge(pairs.map { ($0.prompt, $0.chosen, $0.rejected) }, scorer: scorer, service: service))
    }

    /// One JSON line per pair: its id, the combined verdict, the verdict of each order and the raw texts.
    public static func write(_ pairs: [LabelledPair], _ report: Report, to url: URL) throws {
        let lines = zip(pairs, report.results).map { p, r in
            "{\"id\": \(JSONLines.quote(p.id)), \"verdict\": \"\(r.verdict.rawValue)\", \"forward\": \(r.forward.map(JSONLines.quote) ?? "null"), "
                + "\"backward\": \(r.backward.map(JSONLines.quote) ?? "null"), \"raw\": [\(r.raw.map(JSONLines.quote).joined(separator: ", "))]"
                + (r.probabilityFirst.map { ", \"p_first\": \(JSONLines.number($0)), \"forward_p_a\": \(JSONLines.number(r.forwardA!)), \"backward_p_a\": \(JSONLines.number(r.backwardA!))" } ?? "") + "}"
        }
        try AtomicFile.write(Data((lines.joined(separator: "\n") + "\n").utf8), to: url)
    }
}
