import Foundation
import Kernels

/// Where a phase runs: its key in `state.json` ("round-2-3-train"), its round (0: the initial phases)
/// and its folder.
struct PhaseStep {
    let key: String
    let round: Int
    let folder: RoundFolder
}

/// One phase of a schedule: reads what earlier phases wrote in the folder, writes its own records and
/// metrics. The scheduler records it as done afterwards; a phase that trains checkpoints itself.
protocol Phase {
    func run(_ ctx: RunContext, _ at: PhaseStep) throws
}

extension PhaseConfig {
    /// The phase that carries out these settings.
    var phase: Phase {
        switch self {
        case .sft(let c): return SFTPhase(config: c)
        case .synthesize(let c): return SynthesizePhase(config: c)
        case .generate(let c): return GeneratePhase(config: c)
        case .judge(let c): return JudgePhase(config: c)
        case .pairs(let c): return PairsPhase(config: c)
        case .train(let c): return c.objective == .sft ? RejectionSamplingSFTPhase(config: c) : PreferenceTrainPhase(config: c)
        case .evaluate: return EvaluatePhase()
        }
    }
}

/// Supervised fine-tuning on the task's gold solutions until a validation plateau (or `max_steps`).
struct SFTPhase: Phase {
    let config: SFTConfig
    func run(_ ctx: RunContext, _ at: PhaseStep) throws {
        let c = config
        let schedule = LearningRateSchedule(kind: c.schedule, peak: c.learningRate, warmupSteps: c.warmup, totalSteps: c.maxSteps, minRatio: 0.1)
        let plan = ctx.goldSolutionPlan(key: at.key, folder: at.folder, steps: c.maxSteps, size: c.batchSize, tag: .sftBatches,
                                        checkpointEvery: c.checkpointEvery, plateau: c)
        try ctx.supervised(plan, adamW: AdamWSettings(learningRate: c.learningRate, beta1: 0.9, beta2: 0.95, weightDecay: c.weightDecay),
                           maxGradNorm: c.maxGradNorm, schedule: schedule) { step, lr in
            ctx.sftBatch(step: step, size: c.batchSize, tag: .sftBatches, lr: lr)
        }
    }
}
