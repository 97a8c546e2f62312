import Alignment
import Distributed
import Foundation
import Kernels
import Model

/// The training phases: supervised steps (SFT, the control arm, rejection-sampling SFT) and preference
/// training, each checkpointed and ended through `SchedulerCheckpoints`.
extension Scheduler {
    // MARK: supervised training (the SFT phase and the control arm)

    /// Supervised steps, checkpointed; stops at `steps`, or earlier on a validation plateau when `plateau`
    /// is given; then saves the model with its optimizer state at `folder/model` (the run's model from then
    /// on unless `makesCurrent` is false). Each step's batch is `batch(step, learning rate)`, by default gold
    /// solutions (`sftBatch` with `streamTag`). Returns the tokens processed.
    @discardableResult
    func supervised(key: String, folder: String, makesCurrent: Bool = true, steps total: Int, batchSize: Int,
                    adamW: AdamWSettings, maxGradNorm: Float, schedule: LearningRateSchedule, checkpointEvery: Int, plateau: SFTConfig?,
                    streamTag: UInt64, microBatchTokens: Int = 8192,
                    batch makeBatch: ((Int, Float) -> TrainBatch)? = nil) throws -> Double {
        func batch(_ step: Int, _ lr: Float) -> TrainBatch { makeBatch?(step, lr) ?? sftBatch(step: step, size: batchSize, tag: streamTag, lr: lr) }
        let resume = try resumePoint(key: key, folder: folder, makesCurrent: makesCurrent) { steps in
            steps.reduce(0.0) { $0 + Double(batch($1, 0).ids.reduce(0) { $0 + $1.count }) }
        }
        if case .finished = resume { return state.trainingTokens[key] ?? 0 }
        let setup = TrainerSetup(adamW: adamW, maxGradNorm: maxGradNorm > 0 ? maxGradNorm : nil, microBatchTokens: microBatchTokens, checksumEvery: 50,
                                 reductionShards: config.reductionShards)
        if cluster.size > 1 { try cluster.broadcast(.setupTrainer(setup)) }
        let dp = DataParallelTrainer(model: model, setup: setup, comm: cluster.comm)
        var step = 0, tokens = 0.0, history: [Double] = [], decays = 0
        if case .checkpoint(let cp, let path) = resume {
            try TrainingCheckpoint.restore(dp.trainer, from: path)
            if cluster.size > 1 { try cluster.broadcast(.restoreCheckpoint(path: path.path)) }
            step = cp.step; tokens = cp.tokens; history = cp.history; decays = cp.decays ?? 0
            logger.info("\(key): resuming at step \(step)")
        }
        let log = metrics(folder)
        let progress = Progress(key, total: total, logger: logger, logEvery: max(1, total / 20))
        progress.advance(step)
        var stop = false
        while step < total && !stop {
            step += 1
            let factor = pow(plateau?.lrDecay ?? 1, Float(decays))
            let lr = schedule.rate(at: step) * factor
            let batch = batch(step, lr)
            if cluster.size > 1 { try cluster.broadcast(.trainStep(batch)) }
            let r = try dp.step(batch)
            tokens += Double(batch.ids.reduce(0) { $0 + $1.count })
            var line: [String: Any] = ["phase": key, "step": step, "loss": r.loss, "grad_norm": Double(r.gradNorm), "lr": Double(batch.learningRate)]
            if let p = plateau, step % p.evalEvery == 0 {
                let acc = try accuracy(on: validation, label: "validation").accuracy
                let loss = try validationLoss()
                line["validation_accuracy"] = acc
                line["validation_loss"] = loss
                history.append(p.plateauOn == "loss" ? loss : acc)
                if step >= p.minSteps && history.count > p.patience {
                    let recent = history.suffix(p.patience), before = history.dropLast(p.patience)
                    let gain = p.plateauOn == "loss" ? (before.min()! - recent.min()!) / max(before.min()!, 1e-12) : recent.max()! - before.max()!
                    if gain < p.minDelta {
                        let curve = history.map { String(format: "%.3f", $0) }.joined(separator: " ")
                        if decays < p.maxDecays {
                            decays += 1
                            history = [p.plateauOn == "loss" ? history.min()! : history.max()!]
                            logger.info("\(key): validation \(p.plateauOn) plateaued at step \(step) (\(curve)); learning rate x\(p.lrDecay) from here")
                        } else {
                            stop = true
                            logger.info("\(key): validation \(p.plateauOn) plateaued at step \(step) (\(curve)); done")
                        }
                    }
                }
            }
            try log.append(line)
            progress.advance(status: String(format: "loss %.3f%@", r.loss, (line["validation_accuracy"] as? Double).map { String(format: "  val acc %.3f", $0) } ?? ""))
            KillSwitch.point("\(key)/step/\(step)")
            if step % checkpointEvery == 0 && step < total && !stop {
                try saveCheckpoint(dp.trainer, key: key, folder: folder, step: step, tokens: tokens, history: history, decays: decays, log: log)
            }
        }
        try finishTraining(key: key, folder: folder, trainer: dp.trainer, tokens: tokens, log: log, makesCurrent: makesCurrent)
        return tokens
    }

    /// Mean negative log-likelihood per token of the validation split's gold solutions (and end of sequence).
    func validationLoss() throws -> Double {
        let prompts = validation.map(promptIds), completions = validation.map { completionIds($0.solution) }
        let sum = try CompletionScoring.logps(model, prompts: prompts, completions: completions).reduce(0, +)
        return -sum / Double(completions.reduce(0) { $0 + $1.count })
    }

    /// A batch of gold solutions for step `step`: problems drawn from the training split by a stream keyed
    /// by (seed, tag, step); only the solution and end-of-sequence tokens are scored.
    func sftBatch(step: Int, size: Int, tag: UInt64, lr: Float) -> TrainBatch {
        var rng = RandomStream(key: config.seed, tag, UInt64(step))
        var ids: [[Int32]] = [], targets: [[Int32]] = []
        for _ in 0..<size {
            let p = train[rng.int(below: min(config.data.sftSize, train.count))]
            let prompt = promptIds(p), seq = prompt + completionIds(p.solution)
            ids.append(seq)
            targets.append((0..<seq.count).map { t in t >= prompt.count - 1 && t + 1 < seq.count ? seq[t + 1] : -1 })
        }
        return TrainBatch(ids: ids, targets: targets, learningRate: lr)
    }

    func sftPhase(_ c: SFTConfig, key: String, folder: String) throws {
        let schedule = LearningRateSchedule(kind: c.schedule, peak: c.learningRate, warmupSteps: c.warmup, totalSteps: c.maxSteps, minRatio: 0.1)
        try supervised(key: key, folder: folder, steps: c.maxSteps, batchSize: c.batchSize,
                       adamW: AdamWSettings(learningRate: c.learningRate, beta1: 0.9, beta2: 0.95, weightDecay: c.weightDecay),
                       maxGradNorm: c.maxGradNorm, schedule: schedule, checkpointEvery: c.checkpointEvery, plateau: c, streamTag: 0x5F7)
    }

    // MARK: preference training

    func trainPhase(_ c: TrainConfig, key: String, round: Int, folder: String) throws {
        if c.loss == "sft" { return try rejectionSamplingSFT(c, key: key, round: round, folder: folder) }
        var pairs = try RecordFile.read(PairRecord.self, from: dir.appendingPathComponent("\(folder)/pairs.jsonl").path).map {
            TokenizedPair(prompt: $0.promptIds ?? [], chosen: $0.chosenIds ?? [], rejected: $0.rejectedIds ?? [],
                          refChosen: $0.refChosenLogps, refRejected: $0.refRejectedLogps, weight: $0.weight)
        }
        guard !pairs.isEmpty else {
            logger.warning("\(key): no pairs; the model is unchanged this round")
            try finishTraining(key: key, folder: folder, trainer: nil, tokens: 0, log: metrics(folder))
            return
        }
        var rng = RandomStream(key: config.seed, UInt64(round), 0x7A1)
        rng.shuffle(&pairs)
        let (perEpoch, total, schedule) = c.epochSchedule(items: pairs.count)
        func batch(_ step: Int) -> [TokenizedPair] {
            let s = (step - 1) % perEpoch
            return Array(pairs[(s * c.batchSize)..<min(pairs.count, (s + 1) * c.batchSize)])
        }
        func tokens(of batch: [TokenizedPair]) -> Double { Double(batch.reduce(0) { $0 + 2 * $1.prompt.count + $1.chosen.count + $1.rejected.count }) }
        let resume = try resumePoint(key: key, folder: folder) { steps in steps.reduce(0.0) { $0 + tokens(of: batch($1)) } }
        if case .finished = resume { return }
        let setup = PreferenceSetup(loss: c.loss, settings: LossSettings(beta: c.beta, alpha: c.alpha, gamma: c.gamma),
                                    adamW: AdamWSettings(learningRate: c.learningRate), maxGradNorm: c.maxGradNorm > 0 ? c.maxGradNorm : nil,
                                    microBatchTokens: c.microBatchTokens, reductionShards: config.reductionShards)
        if cluster.size > 1 { try cluster.broadcast(.setupPreference(setup)) }
        let trainer = try setup.makeTrainer(model: model, comm: cluster.comm)
        var step = 0, trained = 0.0
        if case .checkpoint(let cp, let path) = resume {
            try TrainingCheckpoint.restore(trainer.trainer, from: path)
            if cluster.size > 1 { try cluster.broadcast(.restoreCheckpoint(path: path.path)) }
            step = cp.step; trained = cp.tokens
            logger.info("\(key): resuming at step \(step)")
        }
        let log = metrics(folder)
        let progress = Progress(key, total: total, logger: logger)
        progress.advance(step)
        while step < total {
            step += 1
            let batch = batch(step)
            let lr = schedule.rate(at: step)
            if cluster.size > 1 { try cluster.broadcast(.preferenceStep(pairs: batch, learningRate: lr)) }
            let m = try trainer.step(batch, lr: lr)
            trained += tokens(of: batch)
            try log.append(["phase": key, "step": step, "loss": m.loss, "reward_margin": m.rewardMargin, "accuracy": m.accuracy,
                            "chosen_length": m.chosenLength, "rejected_length": m.rejectedLength, "grad_norm": m.gradNorm,
                            "lr": m.learningRate, "tokens_per_s": m.tokensPerSecond])
            progress.advance(status: String(format: "loss %.3f  margin %.2f  acc %.2f", m.loss, m.rewardMargin, m.accuracy))
            KillSwitch.point("\(key)/step/\(step)")
            if step % c.checkpointEvery == 0 && step < total {
                try saveCheckpoint(trainer.trainer, key: key, folder: folder, step: step, tokens: trained, log: log)
            }
        }
        try finishTraining(key: key, folder: folder, trainer: trainer.trainer, tokens: trained, log: log)
    }
}
