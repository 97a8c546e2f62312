import Alignment
import Foundation
import Kernels
import Model

/// Rejection-sampling SFT (distillation's training, `train: {loss: sft}`): supervised steps on the round's
/// outputs that the judge passed (score > 0), each distinct output of a question once, re-encoded with the
/// policy's tokenizer and shown after the question in the policy's own prompt format. Only the output and
/// end-of-sequence tokens are scored. Checkpointed and resumed like SFT (`checkpoint_every`).
struct RejectionSamplingSFTPhase: Phase {
    let config: TrainConfig

    func run(_ ctx: RunContext, _ at: PhaseStep) throws {
        let c = config
        let gens = try at.folder.read(.generations)
        let passed = Set(try at.folder.read(.judgments).filter { ($0.score ?? 0) > 0 }.map(SampleKey.init))
        let problems = try ctx.problemsById(at.folder)
        var seen = Set<String>(), questionsKept = Set<String>()
        var examples: [(ids: [Int32], targets: [Int32])] = []
        for g in gens where passed.contains(SampleKey(g)) {
            questionsKept.insert(g.promptId)
            guard let p = problems[g.promptId], seen.insert("\(g.promptId)\u{0}\(g.text)").inserted else { continue }
            let completion = ctx.task.completionIds(g.text)
            var prompt = ctx.task.promptIds(p)
            let room = ctx.policy.config.maxPositions - completion.count
            guard room > 0 else { continue }
            if prompt.count > room { prompt = Array(prompt.suffix(room)) }
            examples.append(supervisedExample(prompt: prompt, completion: completion))
        }
        let matched = try c.matchTokens.map { try ctx.matchedTrainingTokens($0, round: at.round) }
        let resuming = ctx.state.checkpoint?.phase == at.key  // its metrics (this line included) were kept at the checkpoint
        if !resuming {
            var line: [String: Any] = ["phase": "sft_examples", "outputs": gens.count, "passed": passed.count, "examples": examples.count,
                                       "questions_with_examples": questionsKept.count]
            if let matched { line["matched_tokens"] = Int(matched.tokens) }
            try ctx.metrics(at.folder).append(line)
        }
        ctx.logger.info("\(at.key): \(examples.count) distinct passing outputs of \(gens.count) (\(questionsKept.count) questions) for SFT")
        guard !examples.isEmpty else { return try ctx.keepModel(at, because: "no output passed the judge") }
        let stream = RandomStream(key: ctx.config.seed, UInt64(at.round), StreamTag.exampleShuffle.rawValue)
        let batches: EpochBatches<(ids: [Int32], targets: [Int32])>
        if let matched {
            guard matched.tokens > 0 else { return try ctx.keepModel(at, because: "\(matched.source) trained on no tokens in round \(at.round)") }
            batches = EpochBatches(examples, config: c, stream: stream, tokenBudget: matched.tokens) { $0.ids.count }
            ctx.logger.info("\(at.key): \(batches.total) steps over \(batches.taken!) examples, to match the \(Int(matched.tokens)) training tokens of \(matched.source) in round \(at.round)")
        } else {
            batches = EpochBatches(examples, config: c, stream: stream)
        }
        let (total, schedule) = (batches.total, batches.schedule)
        func batch(_ step: Int, _ lr: Float) -> TrainBatch {
            let part = batches[step]
            return TrainBatch(ids: part.map(\.ids), targets: part.map(\.targets), learningRate: lr)
        }
        var plan = TrainingPlan(key: at.key, folder: at.folder, total: total, checkpointEvery: c.checkpointEvery) { steps in
            steps.reduce(0.0) { $0 + Double(batch($1, 0).ids.reduce(0) { $0 + $1.count }) }
        }
        plan.nonFinite = c.nonFinite
        try ctx.supervised(plan, adamW: AdamWSettings(learningRate: c.learningRate), maxGradNorm: c.maxGradNorm, schedule: schedule,
                           scope: c.scope, microBatchTokens: c.microBatchTokens, batch: batch)
    }
}

extension RunContext {
    /// `train.match_tokens`: the training tokens that run (its folder, `{seed}` replaced by this run's seed)
    /// trained on in round `round`, from its `state.json`, and the folder's path for messages.
    func matchedTrainingTokens(_ pattern: String, round: Int) throws -> (tokens: Double, source: String) {
        let folder = pattern.replacingOccurrences(of: "{seed}", with: String(config.seed))
        let file = URL(fileURLWithPath: folder).appendingPathComponent(RunState.fileName)
        guard let other = try RunState.load(file) else {
            throw PipelineError("train.match_tokens: \(file.path) does not exist; run the config whose tokens this one matches first")
        }
        let prefix = "round-\(round)-"
        let done = other.trainingTokens.filter { $0.key.hasPrefix(prefix) && other.done.contains($0.key) }
        guard !done.isEmpty else {
            throw PipelineError("train.match_tokens: \(file.path) has no finished training phase in round \(round); run or resume that run first")
        }
        return (done.values.reduce(0, +), folder)
    }
}
