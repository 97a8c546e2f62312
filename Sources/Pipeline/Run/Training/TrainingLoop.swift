import Alignment
import Cluster
import Foundation
import Kernels
import Model

/// What a training phase trains, as the checkpointed loop sees it: made once the loop knows the phase
/// has steps left, it takes step n and can load a checkpoint.
protocol TrainingSession {
    var trainer: Trainer { get }
    func restore(from url: URL) throws
    /// The whole optimizer state on rank 0 (gathered from the ranks' shards under ZeRO-1), for a checkpoint.
    func optimizerState() throws -> OptimizerState
    /// Takes step `n` (from 1) with the learning rate multiplied by `lrFactor` (reduce-on-plateau): the
    /// step's metrics fields, the tokens it trained on and a status for the progress bar.
    func step(_ n: Int, lrFactor: Float) throws -> (fields: [String: Any], tokens: Double, status: String)
}

/// A training phase's plan: its key and folder, how many steps, how often to checkpoint, and the plateau
/// rule when the phase stops early on validation (SFT).
struct TrainingPlan {
    let key: String
    let folder: RoundFolder
    /// Whether the phase's model becomes the run's model (the control arm's does not).
    var makesCurrent = true
    let total: Int
    let checkpointEvery: Int
    var plateau: SFTConfig? = nil
    /// What a step with a non-finite loss or gradient norm does.
    var nonFinite = NonFinitePolicy()
    /// The tokens of the given steps (to account for steps whose checkpoint a kill removed).
    let tokens: (ClosedRange<Int>) -> Double
}

extension RunContext {
    /// The one checkpointed training loop, for SFT, preference training, rejection-sampling SFT and the
    /// control arm: resume where `state.json` says, take the steps (stopping early on a validation plateau
    /// when the plan has one), checkpoint every `checkpointEvery` steps, and end by saving the phase's model
    /// (`finishTraining`). Returns the tokens trained on.
    @discardableResult
    func train(_ plan: TrainingPlan, session makeSession: () throws -> TrainingSession) throws -> Double {
        let key = plan.key
        let resume = try resumePoint(key: key, folder: plan.folder, makesCurrent: plan.makesCurrent, tokens: plan.tokens)
        if case .finished = resume { return state.trainingTokens[key] ?? 0 }
        let session = try makeSession()
        var step = 0, tokens = 0.0, history: [Double] = [], decays = 0
        if case .checkpoint(let cp, let path) = resume {
            try session.restore(from: path)
            step = cp.step; tokens = cp.tokens; history = cp.history; decays = cp.decays ?? 0
            logger.info("\(key): resuming at step \(step)")
        }
        let log = metrics(plan.folder)
        let progress = Progress(key, total: plan.total, logger: logger, logEvery: max(1, plan.total / 20))
        progress.advance(step)
        var stop = false
        while step < plan.total && !stop {
            step += 1
            let r = try session.step(step, lrFactor: pow(plan.plateau?.lrDecay ?? 1, Float(decays)))
            var line = r.fields
            tokens += r.tokens
            if session.trainer.lastUpdateSkipped {
                // JSON has no NaN or infinity: those figures are written as null.
                for (k, v) in line { if let d = v as? Double, !d.isFinite { line[k] = NSNull() } }
                line["skipped"] = true
                try nonFiniteStep(plan, step: step, fields: r.fields, log: log)
            }
            if let p = plan.plateau, step % p.evalEvery == 0 {
                let acc = try accuracy(on: task.validation, label: "validation").accuracy
                let loss = try validationLoss()
                line["validation_accuracy"] = acc
                line["validation_loss"] = loss
                history.append(p.plateauOn == .loss ? loss : acc)
                stop = plateaued(p, key: key, step: step, history: &history, decays: &decays)
            }
            try log.append(line)
            progress.advance(status: r.status + ((line["validation_accuracy"] as? Double).map { String(format: "  val acc %.3f", $0) } ?? ""))
            KillSwitch.point("\(key)/step/\(step)")
            Preemption.point("\(key)/step/\(step)")
            // Asked here or on another rank (the step's all-reduce carried it): the same step on every rank.
            if (Preemption.isRequested || session.trainer.stopRequestedAnywhere) && step < plan.total && !stop {
                try saveCheckpoint(try session.optimizerState(), key: key, folder: plan.folder, step: step, tokens: tokens, history: history, decays: decays, log: log)
                throw Preemption.Stopped(at: "\(key), step \(step) of \(plan.total) (checkpoint \(plan.folder.relativeCheckpoint(step)))")
            }
            if step % plan.checkpointEvery == 0 && step < plan.total && !stop {
                try saveCheckpoint(try session.optimizerState(), key: key, folder: plan.folder, step: step, tokens: tokens, history: history, decays: decays, log: log)
            }
        }
        try finishTraining(key: key, folder: plan.folder, optimizer: try session.optimizerState(), tokens: tokens, log: log, makesCurrent: plan.makesCurrent)
        return tokens
    }

    /// A step whose loss or gradient norm was not finite (the weights were left as they were): an error
    /// naming the phase, step and figures, or with `on_nonfinite: skip` a warning until more than
    /// `max_skipped` of the phase's steps were skipped (counted from its metrics lines, so a resumed phase
    /// counts the steps skipped before the kill).
    func nonFiniteStep(_ plan: TrainingPlan, step: Int, fields: [String: Any], log: MetricsLog) throws {
        let figures = ["loss", "grad_norm"].compactMap { k in (fields[k] as? Double).map { "\(k) \($0)" } }.joined(separator: ", ")
        let what = "\(plan.key): step \(step) of \(plan.total) has a non-finite loss or gradient (\(figures)); the weights were not updated"
        let earlier = log.lines.filter { $0.contains("\"phase\":\"\(plan.key)\"") && $0.contains("\"skipped\":true") }.count
        if plan.nonFinite.skip && earlier < plan.nonFinite.maxSkipped {
            logger.warning("\(what); step skipped (\(earlier + 1) of at most \(plan.nonFinite.maxSkipped))")
            return
        }
        let last = state.checkpoint.map { "its last checkpoint (\($0.directory), step \($0.step)) stays, and --resume continues from it" }
            ?? "no checkpoint of the phase was written, and --resume starts it again"
        let reason = plan.nonFinite.skip ? "more than train.max_skipped = \(plan.nonFinite.maxSkipped) steps skipped" : "train.on_nonfinite is stop"
        throw TrainingDiverged(message: "\(what). Training stops (\(reason)): \(last). A lower learning rate, gradient clipping (max_grad_norm) or on_nonfinite: skip may help.")
    }

    /// The plateau rule after a validation at `step`: no gain of `min_delta` over the best before in the
    /// last `patience` evaluations. At a plateau the learning rate decays (`decays` + 1, history restarted at
    /// its best) while decays are left; otherwise the phase stops (true).
    func plateaued(_ p: SFTConfig, key: String, step: Int, history: inout [Double], decays: inout Int) -> Bool {
        guard step >= p.minSteps && history.count > p.patience else { return false }
        let recent = history.suffix(p.patience), before = history.dropLast(p.patience)
        let gain = p.plateauOn == .loss ? (before.min()! - recent.min()!) / max(before.min()!, 1e-12) : recent.max()! - before.max()!
        guard gain < p.minDelta else { return false }
        let curve = history.map { String(format: "%.3f", $0) }.joined(separator: " ")
        if decays < p.maxDecays {
            decays += 1
            history = [p.plateauOn == .loss ? history.min()! : history.max()!]
            logger.info("\(key): validation \(p.plateauOn.rawValue) plateaued at step \(step) (\(curve)); learning rate x\(p.lrDecay) from here")
            return false
        }
        logger.info("\(key): validation \(p.plateauOn.rawValue) plateaued at step \(step) (\(curve)); done")
        return true
    }

    /// Mean negative log-likelihood per token of the validation split's gold solutions (and end of sequence).
    func validationLoss() throws -> Double {
        let prompts = task.validation.map { task.promptIds($0) }, completions = task.validation.map { task.completionIds($0.solution) }
        let sum = try CompletionScoring.logps(policy, prompts: prompts, completions: completions).reduce(0, +)
        return -sum / Double(completions.reduce(0) { $0 + $1.count })
    }

    /// A batch of gold solutions for step `step`: problems drawn from the training split by a stream keyed
    /// by (seed, tag, step); only the solution and end-of-sequence tokens are scored.
    func sftBatch(step: Int, size: Int, tag: StreamTag, lr: Float) -> TrainBatch {
        var rng = RandomStream(key: config.seed, tag.rawValue, UInt64(step))
        var ids: [[Int32]] = [], targets: [[Int32]] = []
        for _ in 0..<size {
            let p = task.train[rng.int(below: min(config.data.sftSize, task.train.count))]
            let (seq, target) = supervisedExample(prompt: task.promptIds(p), completion: task.completionIds(p.solution))
            ids.append(seq); targets.append(target)
        }
        return TrainBatch(ids: ids, targets: targets, learningRate: lr)
    }
}

/// A prompt and its completion as one training sequence whose targets score only the completion.
func supervisedExample(prompt: [Int32], completion: [Int32]) -> (ids: [Int32], targets: [Int32]) {
    let seq = prompt + completion
    return (seq, (0..<seq.count).map { t in t >= prompt.count - 1 && t + 1 < seq.count ? seq[t + 1] : -1 })
}

/// Supervised steps on every rank: batches from `batch(step, learning rate)` at the schedule's rate.
struct SupervisedSession: TrainingSession {
    let key: String
    let mirrored: MirroredTrainer
    let schedule: LearningRateSchedule
    let batch: (Int, Float) -> TrainBatch
    var trainer: Trainer { mirrored.trainer }
    func restore(from url: URL) throws { try mirrored.restore(from: url) }
    func optimizerState() throws -> OptimizerState { try mirrored.optimizerState() }
    func step(_ n: Int, lrFactor: Float) throws -> (fields: [String: Any], tokens: Double, status: String) {
        let batch = batch(n, schedule.rate(at: n) * lrFactor)
        let t0 = Date()
        let r = try mirrored.step(batch)
        let tokens = Double(batch.ids.reduce(0) { $0 + $1.count })
        // Tokens of the step's whole batch (every rank's share) per second of wall time.
        let perSecond = tokens / max(Date().timeIntervalSince(t0), 1e-9)
        return (["phase": key, "step": n, "loss": r.loss, "grad_norm": Double(r.gradNorm), "lr": Double(batch.learningRate), "tokens_per_s": perSecond],
                tokens, String(format: "loss %.3f", r.loss))
    }
}

/// Preference steps on every rank over `pairs` in batches, epoch after epoch.
struct PreferenceSession: TrainingSession {
    let key: String
    let mirrored: MirroredPreferenceTrainer
    let schedule: LearningRateSchedule
    let batch: (Int) -> [TokenizedPair]
    var trainer: Trainer { mirrored.trainer }
    func restore(from url: URL) throws { try mirrored.restore(from: url) }
    func optimizerState() throws -> OptimizerState { try mirrored.optimizerState() }
    func step(_ n: Int, lrFactor: Float) throws -> (fields: [String: Any], tokens: Double, status: String) {
        let pairs = batch(n), lr = schedule.rate(at: n) * lrFactor
        let m = try mirrored.step(pairs, lr: lr)
        // TRL's DPOTrainer names: rewards/* are the beta-scaled log-ratios, logps/* the summed completion log-probs.
        var fields: [String: Any] = ["phase": key, "step": n, "loss": m.loss, "rewards/chosen": m.rewardChosen, "rewards/rejected": m.rewardRejected,
                                     "rewards/margins": m.rewardMargin, "rewards/accuracies": m.accuracy,
                                     "logps/chosen": m.policyChosenLogps, "logps/rejected": m.policyRejectedLogps,
                                     "chosen_length": m.chosenLength, "rejected_length": m.rejectedLength, "grad_norm": m.gradNorm,
                                     "lr": m.learningRate, "tokens_per_s": m.tokensPerSecond]
        if mirrored.local.loss.name == "irpo" { fields["nll_loss"] = m.nll }
        return (fields,
                PreferenceSession.tokens(of: pairs), String(format: "loss %.3f  margin %.2f  acc %.2f", m.loss, m.rewardMargin, m.accuracy))
    }
    static func tokens(of batch: [TokenizedPair]) -> Double { Double(batch.reduce(0) { $0 + 2 * $1.prompt.count + $1.chosen.count + $1.rejected.count }) }
}

extension RunContext {
    /// Supervised training through the loop: batches from `batch(step, learning rate)` (gold solutions, or
    /// the outputs rejection sampling kept), data-parallel on every rank.
    @discardableResult
    func supervised(_ plan: TrainingPlan, adamW: AdamWSettings, maxGradNorm: Float, schedule: LearningRateSchedule, scope: TrainingScope,
                    microBatchTokens: Int = 8192, batch: @escaping (Int, Float) -> TrainBatch) throws -> Double {
        try train(plan) {
            let setup = TrainerSetup(adamW: adamW, maxGradNorm: maxGradNorm > 0 ? maxGradNorm : nil, microBatchTokens: microBatchTokens,
                                     checksumEvery: 50, reductionShards: config.reductionShards, scope: seeded(scope))
            return SupervisedSession(key: plan.key, mirrored: try cluster.trainer(setup, model: policy), schedule: schedule, batch: batch)
        }
    }

    /// A phase's LoRA / ZeRO settings with the adapters drawn from the run's seed.
    func seeded(_ scope: TrainingScope) -> TrainingScope {
        var s = scope
        s.loraSeed = config.seed
        return s
    }

    /// The plan of `steps` steps of gold-solution batches of `size` drawn with `tag`.
    func goldSolutionPlan(key: String, folder: RoundFolder, makesCurrent: Bool = true, steps: Int, size: Int, tag: StreamTag,
                          checkpointEvery: Int, plateau: SFTConfig? = nil) -> TrainingPlan {
        TrainingPlan(key: key, folder: folder, makesCurrent: makesCurrent, total: steps, checkpointEvery: checkpointEvery, plateau: plateau) { steps in
            steps.reduce(0.0) { $0 + Double(self.sftBatch(step: $1, size: size, tag: tag, lr: 0).ids.reduce(0) { $0 + $1.count }) }
        }
    }
}

/// A training phase stopped on a non-finite loss or gradient norm (`train.on_nonfinite`).
struct TrainingDiverged: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
