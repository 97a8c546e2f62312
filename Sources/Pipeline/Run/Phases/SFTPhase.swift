import Foundation
import Kernels

/// Supervised fine-tuning on the task's gold solutions until a validation plateau (or `max_steps`).
struct SFTPhase: Phase {
    let config: SFTConfig
    func run(_ ctx: RunContext, _ at: PhaseStep) throws {
        let c = config
        let schedule = LearningRateSchedule(kind: c.schedule, peak: c.learningRate, warmupSteps: c.warmup, totalSteps: c.maxSteps, minRatio: 0.1)
        var plan = ctx.goldSolutionPlan(key: at.key, folder: at.folder, steps: c.maxSteps, size: c.batchSize, tag: .sftBatches,
                                        checkpointEvery: c.checkpointEvery, plateau: c)
        plan.nonFinite = c.nonFinite
        try ctx.supervised(plan, adamW: AdamWSettings(learningRate: c.learningRate, beta1: 0.9, beta2: 0.95, weightDecay: c.weightDecay),
                           maxGradNorm: c.maxGradNorm, schedule: schedule, scope: c.scope) { step, lr in
            ctx.sftBatch(step: step, size: c.batchSize, tag: .sftBatches, lr: lr)
        }
    }
}
