import Alignment
import Foundation
import Model

/// A round's judge audit (`judge_audit.json`): how the judge did on a gold slice of labelled pairs (both
/// responses judged pointwise with the round's judge; right when the better one scores higher), and what
/// its verdicts on the round's responses look like. Every figure follows from the `gold` list here and
/// the round's `judgments.jsonl` and `generations.jsonl`.
struct JudgeAuditReport: Codable, Equatable {
    struct Gold: Codable, Equatable {
        var id: String
        var chosenScore: Double?
        var rejectedScore: Double?
        enum CodingKeys: String, CodingKey { case id, chosenScore = "chosen_score", rejectedScore = "rejected_score" }
    }
    var round: Int
    var mode: String
    var goldPairs: Int
    /// Pairs whose better response scored strictly higher (an unscored response counts as wrong).
    var goldCorrect: Int
    var goldAccuracy: Double
    /// Wilson 95% interval of the gold accuracy.
    var goldCI95: [Double]
    /// Gold pairs whose two responses scored the same, and their share.
    var goldTies: Int
    var tieShare: Double
    /// Pairwise judges only (a pointwise judge sees one response, so it has no order to flip): null here.
    var positionFlipRate: Double?
    /// Spearman correlation of the round's scores with the judged responses' lengths in words.
    var scoreLengthSpearman: Double?
    /// Mean entropy (nats) of the verdict distributions (null for generated verdicts).
    var meanEntropy: Double?
    /// Reasonings the token limit cut, over the round's judgments and the gold slice.
    var cutReasonings: Int
    var gold: [Gold]

    enum CodingKeys: String, CodingKey {
        case round, mode, goldPairs = "gold_pairs", goldCorrect = "gold_correct", goldAccuracy = "gold_accuracy", goldCI95 = "gold_ci95"
        case goldTies = "gold_ties", tieShare = "tie_share", positionFlipRate = "position_flip_rate"
        case scoreLengthSpearman = "score_length_spearman", meanEntropy = "mean_entropy", cutReasonings = "cut_reasonings", gold
    }

    /// The audit from the gold slice's judgments and the round's judged responses (score and text).
    init(round: Int, mode: JudgeMode, gold: [Gold], judged: [(record: JudgmentRecord, response: String)], goldCut: Int) {
        self.round = round
        self.mode = mode.rawValue
        self.gold = gold
        goldPairs = gold.count
        goldCorrect = gold.filter { g in g.chosenScore.flatMap { c in g.rejectedScore.map { c > $0 } } ?? false }.count
        goldTies = gold.filter { $0.chosenScore != nil && $0.chosenScore == $0.rejectedScore }.count
        goldAccuracy = gold.isEmpty ? 0 : Double(goldCorrect) / Double(gold.count)
        let ci = Statistics.wilson(successes: goldCorrect, trials: gold.count)
        goldCI95 = [ci.low, ci.high]
        tieShare = gold.isEmpty ? 0 : Double(goldTies) / Double(gold.count)
        positionFlipRate = nil
        let scored = judged.filter { $0.record.score != nil }
        scoreLengthSpearman = Statistics.spearman(scored.map { $0.record.score! }, scored.map { Double($0.response.split(whereSeparator: \.isWhitespace).count) })
        let entropies = judged.compactMap(\.record.entropy)
        meanEntropy = entropies.isEmpty ? nil : entropies.reduce(0, +) / Double(entropies.count)
        cutReasonings = judged.reduce(goldCut) { $0 + ($1.record.cut ?? 0) }
    }

    /// One line for summary.md.
    var summaryLine: String {
        func pct(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }
        var parts = ["gold accuracy \(pct(goldAccuracy)) (\(goldCorrect)/\(goldPairs), 95% CI \(pct(goldCI95[0]))-\(pct(goldCI95[1])))",
                     "ties \(pct(tieShare))"]
        if let r = scoreLengthSpearman { parts.append(String(format: "score-length Spearman %.2f", r)) }
        if let e = meanEntropy { parts.append(String(format: "mean entropy %.2f nats", e)) }
        if cutReasonings > 0 { parts.append("\(cutReasonings) reasonings cut") }
        return "- round \(round) judge audit (\(mode)): " + parts.joined(separator: ", ")
    }

    func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try AtomicFile.write(try encoder.encode(self) + Data("\n".utf8), to: url)
    }
}
