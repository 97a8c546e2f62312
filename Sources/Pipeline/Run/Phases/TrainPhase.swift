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
        let pairs = try at.folder.read(.pairs).map {
            TokenizedPair(prompt: $0.promptIds ?? [], chosen: $0.chosenIds ?? [], rejected: $0.rejectedIds ?? [],
                          refChosen: $0.refChosenLogps, refRejected: $0.refRejectedLogps, weight: $0.weight)
        }
        guard !pairs.isEmpty else { return try ctx.keepModel(at, because: "no pairs") }
        let batches = EpochBatches(pairs, config: c, stream: RandomStream(key: ctx.config.seed, UInt64(at.round), StreamTag.pairShuffle.rawValue))
        let (total, schedule) = (batches.total, batches.schedule)
        func batch(_ step: Int) -> [TokenizedPair] { batches[step] }
        var plan = TrainingPlan(key: at.key, folder: at.folder, total: total, checkpointEvery: c.checkpointEvery) { steps in
            steps.reduce(0.0) { $0 + PreferenceSession.tokens(of: batch($1)) }
        }
        plan.nonFinite = c.nonFinite
        try ctx.train(plan) {
            let setup = PreferenceSetup(loss: loss, settings: c.settings, adamW: AdamWSettings(learningRate: c.learningRate),
                                        maxGradNorm: c.maxGradNorm > 0 ? c.maxGradNorm : nil, microBatchTokens: c.microBatchTokens,
                                        reductionShards: ctx.config.reductionShards, scope: ctx.seeded(c.scope))
            return PreferenceSession(key: at.key, mirrored: try ctx.cluster.preferenceTrainer(setup, model: ctx.policy), schedule: schedule, batch: batch)
        }
    }
}

/// A train phase's items shuffled by the round's stream, then cut into batches of `batch_size`: epoch after
/// epoch (each epoch ends with its own, maybe shorter, batch), or, with a token budget, as one sequence that
/// goes round the shuffled items until their tokens reach the budget. `batches[step]` is step `step`'s
/// (from 1), with the phase's step count and learning rate.
struct EpochBatches<Item> {
    let items: [Item]
    let size: Int, total: Int
    let schedule: LearningRateSchedule
    /// How the steps take the shuffled items: each epoch cut on its own, or one sequence of `taken` items
    /// going round them.
    private enum Layout { case epochs(perEpoch: Int), sequence(taken: Int) }
    private let layout: Layout

    init(_ items: [Item], config c: TrainConfig, stream: RandomStream) {
        self.items = Self.shuffled(items, stream)
        size = c.batchSize
        let perEpoch: Int
        (perEpoch, total, schedule) = c.epochSchedule(items: items.count)
        layout = .epochs(perEpoch: perEpoch)
    }
    /// The first items of the sequence whose tokens reach `tokenBudget` (at least one item): the tokens
    /// trained on exceed the budget by less than the last item's.
    init(_ items: [Item], config c: TrainConfig, stream: RandomStream, tokenBudget: Double, tokens: (Item) -> Int) {
        precondition(!items.isEmpty)
        self.items = Self.shuffled(items, stream)
        size = c.batchSize
        var n = 0, sum = 0.0
        repeat { sum += Double(tokens(self.items[n % self.items.count])); n += 1 } while sum < tokenBudget
        total = (n + size - 1) / size
        schedule = c.rateSchedule(steps: total)
        layout = .sequence(taken: n)
    }
    private static func shuffled(_ items: [Item], _ stream: RandomStream) -> [Item] {
        var rng = stream, shuffled = items
        rng.shuffle(&shuffled)
        return shuffled
    }
    /// With a token budget, the items the sequence takes.
    var taken: Int? { if case .sequence(let n) = layout { n } else { nil } }
    subscript(step: Int) -> [Item] {
        switch layout {
        case .sequence(let taken):
            return ((step - 1) * size..<min(taken, step * size)).map { items[$0 % items.count] }
        case .epochs(let perEpoch):
            let s = (step - 1) % perEpoch
            return Array(items[(s * size)..<min(items.count, (s + 1) * size)])
        }
    }
}

extension RunContext {
    /// Ends a train phase that has nothing to train on: the model is saved unchanged as the phase's.
    func keepModel(_ at: PhaseStep, because reason: String) throws {
        logger.warning("\(at.key): \(reason); the model is unchanged this round")
        try finishTraining(key: at.key, folder: at.folder, optimizer: nil, tokens: 0, log: metrics(at.folder))
    }
}
