import Alignment
import Foundation

/// Accuracy of a model on problems, kept per problem so that rounds can be compared pairwise.
public struct EvaluationResult: Codable, Equatable {
    public var label: String
    public var correct: [Bool]
    public var lengths: [Int]
    /// LIFT evaluation (`evaluation.length_limit`): the word limit, and per question whether the answer to
    /// the length-instructed question kept to it and was correct.
    public var lengthLimit: Int?
    public var withinLimit: [Bool]?
    public var correctWithinLimit: [Bool]?
    public var compliance: Double? { withinLimit.map { $0.isEmpty ? 0 : Double($0.filter { $0 }.count) / Double($0.count) } }
    public var accuracyWithinLimit: Double? {
        correctWithinLimit.map { $0.isEmpty ? 0 : Double($0.filter { $0 }.count) / Double($0.count) }
    }
    /// The judged comparison with the previous evaluation's model on the win-rate prompts.
    public var winRate: WinRate?
    /// The policy as a pairwise judge of labelled pairs (`evaluation.judge_accuracy_pairs`).
    public var judgeAccuracy: JudgeAccuracyResult?
    public init(label: String, correct: [Bool], lengths: [Int]) { self.label = label; self.correct = correct; self.lengths = lengths }
    public var accuracy: Double { correct.isEmpty ? 0 : Double(correct.filter { $0 }.count) / Double(correct.count) }
    public var interval: (low: Double, high: Double) { Statistics.wilson(successes: correct.filter { $0 }.count, trials: correct.count) }
    public var meanLength: Double { Statistics.meanAndSD(lengths.map(Double.init)).mean }
    public var sdLength: Double { Statistics.meanAndSD(lengths.map(Double.init)).sd }

    /// McNemar's exact test of this result against an earlier one on the same problems.
    public func pValue(against before: EvaluationResult) -> Double {
        Statistics.mcnemar(before: before.correct, after: correct).p
    }

    public func summary(against references: [(String, EvaluationResult)]) -> [String: Any] {
        var out: [String: Any] = ["label": label, "accuracy": accuracy, "ci95": [interval.low, interval.high],
                                  "n": correct.count, "mean_length": meanLength, "sd_length": sdLength]
        for (name, r) in references where r.correct.count == correct.count { out["p_vs_\(name)"] = pValue(against: r) }
        return out
    }
}

/// This model's responses against the previous evaluation's, judged pairwise in both orders: per prompt
/// 1 (a win), 0 (a loss), 0.5 (a tie: the orders disagree or both say tie) or absent (a verdict did not
/// parse). With a length limit, a response over it loses without judging (both over: a tie).
public struct WinRate: Codable, Equatable {
    public var against: String
    public var outcomes: [Double?]
    public var low: Double, high: Double
    public var wins: Int { outcomes.filter { $0 == 1 }.count }
    public var losses: Int { outcomes.filter { $0 == 0 }.count }
    public var ties: Int { outcomes.filter { $0 == 0.5 }.count }
    public var unparsed: Int { outcomes.filter { $0 == nil }.count }
    /// (wins + ties / 2) / (wins + losses + ties); nil when no comparison parsed.
    public var rate: Double? {
        let v = outcomes.compactMap { $0 }
        return v.isEmpty ? nil : v.reduce(0, +) / Double(v.count)
    }
    public init(against: String, outcomes: [Double?], seed: UInt64) {
        self.against = against; self.outcomes = outcomes
        (low, high) = Statistics.bootstrapMean(outcomes.compactMap { $0 }, seed: seed)
    }
    public var text: String {
        rate.map { String(format: "%.1f%% (%.1f-%.1f)", 100 * $0, 100 * low, 100 * high) } ?? "-"
    }
}

/// The model's verdicts on labelled pairs, each judged in both orders: a pair is right when both orders
/// name the better response; single-order verdicts are counted too.
public struct JudgeAccuracyResult: Codable, Equatable {
    public var pairs: Int, correct: Int, singleCorrect: Int, ties: Int, unparsed: Int
    public var accuracy: Double { pairs == 0 ? 0 : Double(correct) / Double(pairs) }
    public var interval: (low: Double, high: Double) { Statistics.wilson(successes: correct, trials: pairs) }
    public var singleAccuracy: Double { pairs == 0 ? 0 : Double(singleCorrect) / Double(2 * pairs) }
    public var text: String { String(format: "%.1f%% (%.1f-%.1f)", 100 * accuracy, 100 * interval.low, 100 * interval.high) }
}

/// The per-round table printed at the end of each round and of the run.
public struct RoundReport {
    public struct Row {
        public var label: String
        public var result: EvaluationResult
        public var pairs: Int?
        public var seconds: [(String, Double)]
        /// False for a round whose model the promotion gate dropped: later rounds are compared with the
        /// model it kept.
        public var promoted = true
        public init(label: String, result: EvaluationResult, pairs: Int? = nil, seconds: [(String, Double)] = [], promoted: Bool = true) {
            self.label = label; self.result = result; self.pairs = pairs; self.seconds = seconds; self.promoted = promoted
        }
    }
    public var rows: [Row] = []
    public var start: EvaluationResult?
    /// The promotion gate's decisions, one line each, printed under the table.
    public var promotions: [String] = []
    public init() {}

    public func table() -> String {
        // The start's row is "SFT" after an SFT phase, else "start".
        // The pairs column only when a round built pairs.
        let showPairs = rows.contains { $0.pairs != nil }
        var lines = ["| model | accuracy (95% CI) | p vs previous | p vs \(start?.label ?? "start") |\(showPairs ? " pairs |" : "") mean length (sd) | phase seconds |",
                     "|---|---|---|---|\(showPairs ? "---|" : "")---|---|"]
        var previous: EvaluationResult?
        for row in rows {
            let r = row.result
            let ci = String(format: "%.1f%% (%.1f-%.1f)", 100 * r.accuracy, 100 * r.interval.low, 100 * r.interval.high)
            let pPrev = previous.map { String(format: "%.2g", r.pValue(against: $0)) } ?? "-"
            let pStart = start.map { $0 == r ? "-" : String(format: "%.2g", r.pValue(against: $0)) } ?? "-"
            let secs = row.seconds.map { "\($0.0) \(String(format: "%.0f", $0.1))" }.joined(separator: ", ")
            let label = row.promoted ? row.label : row.label + " (not promoted)"
            let pairs = showPairs ? " \(row.pairs.map(String.init) ?? "-") |" : ""
            lines.append("| \(label) | \(ci) | \(pPrev) | \(pStart) |\(pairs) \(String(format: "%.1f (%.1f)", r.meanLength, r.sdLength)) | \(secs) |")
            if !row.label.hasPrefix("control") && row.promoted { previous = r }
        }
        if !promotions.isEmpty { lines += ["", "Promotion gate:"] + promotions.map { "- " + $0 } }
        let judging = rows.filter { $0.result.judgeAccuracy != nil }
        if !judging.isEmpty {
            lines += ["", "| model | judge accuracy, both orders (95% CI) | single-order accuracy | ties / unparsed of pairs |", "|---|---|---|---|"]
            for row in judging {
                let j = row.result.judgeAccuracy!
                lines.append("| \(row.label) | \(j.text) | \(String(format: "%.1f%%", 100 * j.singleAccuracy)) | \(j.ties) / \(j.unparsed) of \(j.pairs) |")
            }
        }
        let judged = rows.filter { $0.result.winRate != nil }
        if !judged.isEmpty {
            lines += ["", "| model | judged win rate (95% CI) | against | wins / losses / ties / unparsed |", "|---|---|---|---|"]
            for row in judged {
                let w = row.result.winRate!
                lines.append("| \(row.label) | \(w.text) | \(w.against) | \(w.wins) / \(w.losses) / \(w.ties) / \(w.unparsed) |")
            }
        }
        return lines.joined(separator: "\n")
    }
}
