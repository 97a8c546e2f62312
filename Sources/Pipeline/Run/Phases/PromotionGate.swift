import Foundation
import Model

/// The promotion gate (`schedule.promotion`), run by the scheduler after each round: the round's model
/// answers the dev split (greedy), its results are set beside the current model's by exact McNemar, and the
/// rule decides. A model that is not promoted is dropped: the current one is loaded back, and the next round
/// starts from it (with that round's own, fresh questions). Each decision is written to the round's
/// `promotion.json` and recorded in `state.json` before the round counts as done, so a resumed run keeps it.
public struct PromotionGate {
    public let config: PromotionConfig
    public init(config: PromotionConfig) { self.config = config }

    /// The decision for one round (`promotion.json`).
    public struct Decision: Codable, Equatable {
        public var round: Int
        public var rule: String
        public var alpha: Double
        /// The model the round started from ("start" or "round N") and its dev results.
        public var current: String
        public var n: Int
        public var currentCorrect: Int, candidateCorrect: Int
        /// Dev problems only the current model answers right, and only the round's model.
        public var onlyCurrent: Int, onlyCandidate: Int
        /// Exact McNemar p (two-sided).
        public var p: Double
        public var promoted: Bool

        enum CodingKeys: String, CodingKey {
            case round, rule, alpha, current, n, p, promoted
            case currentCorrect = "current_correct", candidateCorrect = "candidate_correct"
            case onlyCurrent = "only_current", onlyCandidate = "only_candidate"
        }

        var line: String {
            String(format: "round %d: %@ (dev %d/%d against %@'s %d/%d, McNemar p = %.2g)", round, promoted ? "promoted" : "not promoted",
                   candidateCorrect, n, current, currentCorrect, n, p)
        }
    }

    /// The rule applied to the two models' dev results (aligned problem by problem).
    public func decide(round: Int, current: EvaluationResult, candidate: EvaluationResult) -> Decision {
        let m = Statistics.mcnemar(before: current.correct, after: candidate.correct)
        let before = current.correct.filter { $0 }.count, after = candidate.correct.filter { $0 }.count
        let significant = m.p < config.alpha
        let promoted: Bool
        switch config.rule {
        case .notWorse: promoted = !(significant && after < before)
        case .better: promoted = significant && after > before
        }
        return Decision(round: round, rule: config.rule.rawValue, alpha: config.alpha, current: current.label, n: candidate.correct.count,
                        currentCorrect: before, candidateCorrect: after, onlyCurrent: m.b, onlyCandidate: m.c, p: m.p, promoted: promoted)
    }

    /// The policy's greedy results on the dev split, saved in `folder` as unit `key` (read back once done).
    func devResult(_ ctx: RunContext, key: String, folder: RoundFolder, label: String) throws -> EvaluationResult {
        if ctx.isDone(key) { return try Self.read(EvaluationResult.self, folder.url(.devEvaluation)) }
        try folder.create()
        ctx.begin(key)
        let t0 = Date()
        let result = try ctx.accuracy(on: ctx.task.validation, label: label, saved: SavedChunks(folder: folder, file: .partialDevEvaluation, key: key))
        try write(result, to: folder.url(.devEvaluation))
        folder.removePartial(.partialDevEvaluation)
        let log = ctx.metrics(folder)
        try log.append(["phase": "dev_evaluate", "key": key, "accuracy": result.accuracy, "n": result.correct.count, "seconds": Date().timeIntervalSince(t0)])
        try log.flush(state: &ctx.state)
        try ctx.complete(key)
        ctx.logger.info("\(String(format: "%@: dev accuracy %.1f%% on %d problems", label, 100 * result.accuracy, result.correct.count))")
        return result
    }

    /// Decides round `round` (the policy is its model), or reads the decision a resumed run already took.
    func run(_ ctx: RunContext, round: Int) throws -> Decision {
        let folder = ctx.round(round), key = "round-\(round)-promotion"
        if ctx.isDone(key) { return try Self.read(Decision.self, folder.url(.promotion)) }
        let (currentFolder, currentModel) = ctx.promotedModel(before: round)
        let current = try Self.read(EvaluationResult.self, currentFolder.url(.devEvaluation))
        let candidate = try devResult(ctx, key: "round-\(round)-dev", folder: folder, label: "round \(round)")
        let decision = decide(round: round, current: current, candidate: candidate)
        try write(decision, to: folder.url(.promotion))
        ctx.state.promotions = (ctx.state.promotions ?? [:]).merging([String(round): decision.promoted]) { _, new in new }
        if !decision.promoted {
            ctx.state.model = currentModel
            if let m = currentModel { try ctx.loadModel(m) } else { try ctx.loadStartModel() }
        }
        ctx.logger.info("promotion (\(config.rule.rawValue), alpha \(config.alpha)): \(decision.line)")
        try ctx.complete(key)
        return decision
    }

    /// A JSON file of the run (an evaluation, a decision); errors name it.
    static func read<T: Decodable>(_ type: T.Type, _ url: URL) throws -> T {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw PipelineError("\(url.path): missing") }
        do { return try JSONDecoder().decode(T.self, from: data) } catch { throw PipelineError("\(url.path): unreadable (\(error))") }
    }

    func write<T: Encodable>(_ value: T, to url: URL) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        try AtomicFile.write(try e.encode(value), to: url)
    }
}

extension RunContext {
    /// The model round `round` started from: the last promoted round's (a round without a gate decision
    /// counts as promoted) or the start. Its folder holds its dev results; the path (relative to the run
    /// directory) is nil for the run's starting model.
    func promotedModel(before round: Int) -> (folder: RoundFolder, model: String?) {
        var folder: RoundFolder?
        for r in stride(from: round - 1, through: 1, by: -1) where state.promotions?[String(r)] != false {
            let f = self.round(r)
            if folder == nil { folder = f }
            if f.exists(.model) { return (folder!, f.relative(.model)) }
        }
        let sft = config.initial.contains { if case .sft = $0 { return true } else { return false } }
        return (folder ?? initialFolder, sft ? initialFolder.relative(.model) : nil)
    }
}
