import Foundation
import Kernels

/// The same training tokens as the rounds' preference training, spent on more SFT of the gold solutions
/// from the SFT model (with the rounds' learning-rate settings), then evaluated. Its model is saved at
/// control/model but does not become the run's model.
struct ControlPhase {
    func run(_ ctx: RunContext) throws -> EvaluationResult {
        let key = "control", folder = ctx.controlFolder
        if !ctx.isDone(key) {
            guard ctx.state.done.contains(where: { $0.hasPrefix("initial-") && $0.hasSuffix("-sft") }) else {
                throw PipelineError("the control arm needs an SFT phase in schedule.initial")
            }
            ctx.begin(key)
            try ctx.loadModel(ctx.initialFolder.relative(.model))
            let budget = ctx.state.trainingTokens.filter { $0.key.hasPrefix("round-") }.values.reduce(0, +)
            let sft = ctx.config.initial.compactMap { if case .sft(let c) = $0 { return c } else { return nil } }.first!
            let trainConfig = ctx.config.rounds.last!.compactMap { if case .train(let c) = $0 { return c } else { return nil } }.first
            let perStep = Double(ctx.sftBatch(step: 1, size: sft.batchSize, tag: .controlBatches, lr: 0).ids.reduce(0) { $0 + $1.count })
            let steps = max(1, Int((budget / perStep).rounded(.up)))
            let lr = trainConfig?.learningRate ?? sft.learningRate
            ctx.logger.info("control: \(steps) SFT steps (\(Int(budget)) training tokens, as in the rounds) from the SFT model at lr \(lr)")
            try folder.create()
            let schedule = LearningRateSchedule(kind: trainConfig?.schedule ?? .cosine, peak: lr, warmupSteps: min(trainConfig?.warmup ?? 0, steps - 1),
                                                totalSteps: steps, minRatio: 0)
            var plan = ctx.goldSolutionPlan(key: key, folder: folder, makesCurrent: false, steps: steps, size: sft.batchSize, tag: .controlBatches,
                                            checkpointEvery: sft.checkpointEvery)
            plan.nonFinite = trainConfig?.nonFinite ?? sft.nonFinite
            try ctx.supervised(plan, adamW: AdamWSettings(learningRate: lr), maxGradNorm: trainConfig?.maxGradNorm ?? 1, schedule: schedule,
                               scope: trainConfig?.scope ?? sft.scope) { step, lr in
                ctx.sftBatch(step: step, size: sft.batchSize, tag: .controlBatches, lr: lr)
            }
            try ctx.complete(key)
        } else if !ctx.isDone("control-evaluate") {
            // Resumed between the two: the model to evaluate is the control's, not the run's current one.
            try ctx.loadModel(folder.relative(.model))
        }
        return try EvaluatePhase().evaluate(ctx, key: "control-evaluate", folder: folder, label: "control (SFT, same compute)")
    }
}
