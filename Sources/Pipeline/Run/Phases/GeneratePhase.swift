import Alignment
import Foundation
import Generation
import Model
import Tokenizer

/// Samples `samples` outputs for each of the round's questions (the task's, or the synthesized ones) with
/// the policy, or in distillation with a teacher model; sharded over the ranks, written chunk by chunk so
/// that a killed phase resumes, then as `generations.jsonl`.
struct GeneratePhase: Phase {
    let config: GenerateConfig

    func run(_ ctx: RunContext, _ at: PhaseStep) throws {
        let c = config
        let qs = try questions(ctx, at)
        var params = c.sampling
        params.seed = ctx.config.seed; params.round = UInt64(at.round)
        if c.forcedVerdict { params.stop = Array(Set(params.stop + [ForcedVerdicts.marker])).sorted() }
        let completed = try at.folder.completedChunks()
        if !completed.isEmpty { ctx.logger.info("\(at.key): \(completed.count) chunk(s) already generated") }
        // The writer: the policy, or (distillation) a teacher model loaded on every rank for this phase.
        func generate(_ model: LlamaModel, _ tokenizer: BPETokenizer, _ template: PromptTemplate) throws -> [GenerationResult] {
            let requests = qs.enumerated().flatMap { i, p in
                let prompt = ctx.task.promptIds(p, template: template, tokenizer: tokenizer)
                return (0..<c.samples).map { GenerationRequest(promptIndex: i, sampleIndex: $0, prompt: prompt) }
            }
            let progress = Progress(at.key, total: requests.count, logger: ctx.logger)
            progress.advance(completed.values.reduce(0) { $0 + $1.count })
            let local = Generator(model: model, tokenizer: tokenizer, batchSize: c.batchSize)
            // The saved chunks hold the first pass; the responses after a forced marker are written again on resume.
            return try ThoughtResponses.generate(cluster: ctx.cluster, requests: requests, params: params, thoughtTokens: ctx.config.data.thoughtTokens,
                                                 batchSize: c.batchSize, local: local, tokenizer: tokenizer, logger: ctx.logger, key: at.key) { first in
                try ctx.cluster.generate(requests, params: first, batchSize: c.batchSize, chunkSize: c.batchSize, local: local,
                                         onFinish: { _ in progress.advance() }, completed: completed) { chunk, rs in
                    try at.folder.writeChunk(chunk, rs)
                    KillSwitch.point("\(at.key)/chunk/\(chunk)")
                    Preemption.point("\(at.key)/chunk/\(chunk)")
                    // Under mpirun the chunks the workers still hold are collected and saved before the stop.
                    try Preemption.check("\(at.key), after generation chunk \(chunk) (the chunks so far are saved)")
                }
            }
        }
        var results: [GenerationResult]
        if let path = c.teacher {
            let template = c.teacherTemplate ?? ctx.config.data.template
            results = try ctx.borrowing(path, precision: c.teacherPrecision, role: "teacher model") { model, tokenizer in
                ctx.logger.info("\(at.key): the teacher \(path) writes the outputs (\(template.rawValue) prompts)")
                return try generate(model, tokenizer, template)
            }
        } else {
            results = try generate(ctx.policy, ctx.tokenizer, ctx.config.data.template)
        }
        let cut = results.filter { $0.finishReason == "length" }.count
        if c.forcedVerdict {
            results = try ForcedVerdicts.apply(ctx, at, questions: qs, results: results, params: params, batchSize: c.batchSize)
            ctx.logger.info("\(at.key): a verdict drawn from the policy's probabilities ends each of \(results.count) outputs (\(cut) cut by max_new_tokens)")
        }
        let records = results.map { r in
            GenerationRecord(promptId: qs[r.promptIndex].id, sampleIndex: r.sampleIndex, text: r.text, tokenIds: r.tokens,
                             logprob: r.logprob, finishReason: r.finishReason)
        }
        try at.folder.write(records, as: .generations)
        at.folder.removePartial(.partialGenerations)
        let lengths = results.map { Double($0.tokens.count) }
        var fields: [String: Any] = ["phase": "generate", "samples": results.count, "mean_length": Statistics.meanAndSD(lengths).mean]
        if c.forcedVerdict { fields["forced_verdicts"] = results.count; fields["cut_reasonings"] = cut }
        try ctx.metrics(at.folder).append(fields)
    }

    /// The round's questions: a slice of the task's, or those a synthesize phase kept.
    func questions(_ ctx: RunContext, _ at: PhaseStep) throws -> [Problem] {
        let task = ctx.task.questions(round: at.round, count: config.questions)
        if config.source == .task { return task }
        let synthesized = Array(try ctx.synthesizedProblems(upTo: at.folder).prefix(config.questions))
        if !synthesized.isEmpty {
            ctx.logger.info("\(at.key): \(synthesized.count) synthesized questions")
            return synthesized
        }
        if config.source == .synthesized {
            throw PipelineError("\(at.key): generate.source is synthesized, but no synthesize phase up to this round kept a question")
        }
        ctx.logger.info("\(at.key): no synthesized questions yet; \(task.count) questions of the task")
        return task
    }
}
