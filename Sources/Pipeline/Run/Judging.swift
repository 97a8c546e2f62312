import Alignment
import Cluster
import Foundation
import Generation
import Model
import Tokenizer

/// The judge of a phase, whichever model it is: something that generates (for reasoning and generated
/// verdicts) and something that reads verdict probabilities, over the cluster.
struct Judge {
    let service: ClusterCompletions
    let scorer: ClusterVerdictScorer
}

extension RunContext {
    /// `body` with the judge: the policy, or the model at `path` (a judge model), loaded on every rank for
    /// the while and judging in its own chat format (the prompt as it is when it has none).
    /// With `journal`, the judge's finished chunks are saved as they come, for a phase that resumes part-way.
    func withJudge<T>(_ path: String?, precision: Precision, batchSize: Int, progress: String, journal: ChunkJournal? = nil,
                      _ body: (Judge) throws -> T) throws -> T {
        guard let path else {
            let service = completions(batchSize: batchSize, progress: progress, journal: journal)
            return try body(Judge(service: service, scorer: ClusterVerdictScorer(service, chunkSize: batchSize)))
        }
        return try borrowing(path, precision: precision, role: "judge") { model, t in
            // The judge's own chat format when it has one; else the prompt as it is.
            let template = t.chatTemplate.map { ChatTemplate.detect(from: $0) }
            let service = ClusterCompletions(cluster: cluster, model: model, tokenizer: t, template: template, batchSize: batchSize,
                                             progress: Progress.bars(progress, logger: logger), journal: journal)
            return try body(Judge(service: service, scorer: ClusterVerdictScorer(service, chunkSize: batchSize)))
        }
    }
}

/// What a pointwise judge made of one response, whichever way it gave its verdict.
struct PointwiseOutcome {
    /// The score pairs use: the mean parsed score (generate) or mean expected score (logprob); nil when
    /// no generated judgment parsed.
    var score: Double?
    var scores: [Double?]
    var texts: [String]
    var distributions: [[Double]]?
    var mostLikely: [Double]?
    var entropy: Double?
    var cut: Int?

    /// Judges every (instruction, response) as `config` says.
    static func judge(_ items: [(instruction: String, response: String)], config c: JudgeConfig, templates: JudgeTemplates,
                      params: SamplingParameters, judge: Judge) throws -> [PointwiseOutcome] {
        if items.isEmpty { return [] }
        switch c.mode {
        case .generate:
            return try PointwiseJudge(templates: templates, judgments: c.judgments, params: params).judge(items, with: judge.service).map {
                PointwiseOutcome(score: $0.score, scores: $0.scores, texts: $0.raw)
            }
        case .logprob:
            let lp = LogprobPointwiseJudge(templates: templates, scores: (0...c.maxScore).map(String.init),
                                           reasoning: c.reasoning ? ReasoningFirst(params: params) : nil, judgments: c.judgments)
            return try lp.judge(items, scorer: judge.scorer, service: judge.service).map { r in
                PointwiseOutcome(score: r.score, scores: r.judgments.map(\.expected),
                                 texts: c.reasoning ? r.judgments.map { ReasoningFirst.answerPrefix($0.reasoning, prefix: lp.prefix) + formatScore($0.mostLikely) } : [],
                                 distributions: r.judgments.map(\.distribution.probabilities), mostLikely: r.judgments.map(\.mostLikely),
                                 entropy: r.entropy, cut: r.judgments.filter(\.cut).count)
            }
        }
    }

    static func formatScore(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }
}
