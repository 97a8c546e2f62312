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

/// The per-round table printed at the end of each round and of the run.
public struct RoundReport {
    public var rows: [(label: String, result: EvaluationResult, pairs: Int?, seconds: [(String, Double)])] = []
    public var start: EvaluationResult?

    public func table() -> String {
        var lines = ["| model | accuracy (95% CI) | p vs previous | p vs SFT | pairs | mean length (sd) | phase seconds |",
                     "|---|---|---|---|---|---|---|"]
        var previous: EvaluationResult?
        for row in rows {
            let r = row.result
            let ci = String(format: "%.1f%% (%.1f-%.1f)", 100 * r.accuracy, 100 * r.interval.low, 100 * r.interval.high)
            let pPrev = previous.map { String(format: "%.2g", r.pValue(against: $0)) } ?? "-"
            let pStart = start.map { $0 == r ? "-" : String(format: "%.2g", r.pValue(against: $0)) } ?? "-"
            let secs = row.seconds.map { "\($0.0) \(String(format: "%.0f", $0.1))" }.joined(separator: ", ")
            lines.append("| \(row.label) | \(ci) | \(pPrev) | \(pStart) | \(row.pairs.map(String.init) ?? "-") | \(String(format: "%.1f (%.1f)", r.meanLength, r.sdLength)) | \(secs) |")
            if !row.label.hasPrefix("control") { previous = r }
        }
        return lines.joined(separator: "\n")
    }
}
