import Alignment
import Cluster
import Foundation
import Kernels
import Model

/// Preference training on the round's pairs (shuffled by the round's stream), in batches, epoch after
/// epoch, through the checkpointed training loop. Without pairs the model is kept as it is.
struct PreferenceTrainPhase: Phase {
    let config: TrainConfig

    func run(_ ctx: RunContext, _ at: PhaseStep) throws {
        let c = config
        guard case .preference(let loss) = c.objective else { preconditionFailure("a preference phase with objective \(c.objective)") }
        var pairs = try at.folder.read(.pairs).map {
            TokenizedPair(prompt: $0.promptIds ?? [], chosen: $0.chosenIds ?? [], rejected: $0.rejectedIds ?? [],
                          refChosen: $0.refChosenLogps, refRejected: $0.refRejectedLogps, weight: $0.weight)
        }
        guard !pairs.isEmpty else {
            ctx.logger.warning("\(at.key): no pairs; the model is unchanged this round")
            return try ctx.finishTraining(key: at.key, folder: at.folder, trainer: nil, tokens: 0, log: ctx.metrics(at.folder))
        }
        var rng = RandomStream(key: ctx.config.seed, UInt64(at.round), StreamTag.pairShuffle.rawValue)
        rng.shuffle(&pairs)
        let (perEpoch, total, schedule) = c.epochSchedule(items: pairs.count)
        let shuffled = pairs
        func batch(_ step: Int) -> [TokenizedPair] {
            let s = (step - 1) % perEpoch
            return Array(shuffled[(s * c.batchSize)..<min(shuffled.count, (s + 1) * c.batchSize)])
        }
        let plan = TrainingPlan(key: at.key, folder: at.folder, total: total, checkpointEvery: c.checkpointEvery) { steps in
            steps.reduce(0.0) { $0 + PreferenceSession.tokens(of: batch($1)) }
        }
        try ctx.train(plan) {
            let setup = PreferenceSetup(loss: loss, settings: c.settings, adamW: AdamWSettings(learningRate: c.learningRate),
                                        maxGradNorm: c.maxGradNorm > 0 ? c.maxGradNorm : nil, microBatchTokens: c.microBatchTokens,
                                        reductionShards: ctx.config.reductionShards)
            return PreferenceSession(key: at.key, mirrored: try ctx.cluster.preferenceTrainer(setup, model: ctx.policy), schedule: schedule, batch: batch)
        }
    }
}

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
        let resuming = ctx.state.checkpoint?.phase == at.key  // its metrics (this line included) were kept at the checkpoint
        if !resuming {
            try ctx.metrics(at.folder).append(["phase": "sft_examples", "outputs": gens.count, "passed": passed.count, "examples": examples.count,
                                               "questions_with_examples": questionsKept.count])
        }
        ctx.logger.info("\(at.key): \(examples.count) distinct passing outputs of \(gens.count) (\(questionsKept.count) questions) for SFT")
        guard !examples.isEmpty else {
            ctx.logger.warning("\(at.key): no output passed the judge; the model is unchanged this round")
            return try ctx.finishTraining(key: at.key, folder: at.folder, trainer: nil, tokens: 0, log: ctx.metrics(at.folder))
        }
        var rng = RandomStream(key: ctx.config.seed, UInt64(at.round), StreamTag.exampleShuffle.rawValue)
        rng.shuffle(&examples)
        let (perEpoch, total, schedule) = c.epochSchedule(items: examples.count)
        let shuffled = examples
        func batch(_ step: Int, _ lr: Float) -> TrainBatch {
            let s = (step - 1) % perEpoch
            let part = shuffled[(s * c.batchSize)..<min(shuffled.count, (s + 1) * c.batchSize)]
            return TrainBatch(ids: part.map(\.ids), targets: part.map(\.targets), learningRate: lr)
        }
        let plan = TrainingPlan(key: at.key, folder: at.folder, total: total, checkpointEvery: c.checkpointEvery) { steps in
            steps.reduce(0.0) { $0 + Double(batch($1, 0).ids.reduce(0) { $0 + $1.count }) }
        }
        try ctx.supervised(plan, adamW: AdamWSettings(learningRate: c.learningRate), maxGradNorm: c.maxGradNorm, schedule: schedule,
                           microBatchTokens: c.microBatchTokens, batch: batch)
    }
}
