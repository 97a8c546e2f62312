import Alignment
import Distributed
import Foundation
import Generation
import Kernels
import Model

/// What the coordinator asks of a worker daemon. Workers hold no schedule state: each command carries
/// everything needed to carry it out. Only `Cluster` sends them (each of its operations tells the workers
/// and does rank 0's share), so phase code never addresses a worker.
public enum WorkerCommand: Codable {
    case loadModel(path: String, precision: Precision)
    case initModel(configJSON: String, seed: UInt64)
    case generate(chunk: Int, requests: [GenerationRequest], params: SamplingParameters, batchSize: Int)
    case setupTrainer(TrainerSetup)
    /// Load weights, AdamW moments and step from a training checkpoint into the trainer set up last.
    case restoreCheckpoint(path: String)
    case trainStep(TrainBatch)
    case score(chunk: Int, prompts: [[Int32]], completions: [[Int32]])
    case scoreTrees(chunk: Int, trees: [ScoringTree])
    case setupPreference(PreferenceSetup)
    case preferenceStep(pairs: [TokenizedPair], learningRate: Float)
    /// Send this rank's shard of the optimizer moments to rank 0 (ZeRO-1), for a checkpoint.
    case gatherOptimizerState
    /// Turn the model's LoRA adapters on or off (off: the base model, the "initial" reference).
    case setAdapters(enabled: Bool)
    case shutdown
}

public enum WorkerReply: Codable {
    case generated(chunk: Int, results: [GenerationResult])
    case scored(chunk: Int, logps: [Double])
    case treesScored(chunk: Int, logps: [[Double]])
    /// This worker was asked to stop (SIGTERM or SIGUSR1 reached it, not rank 0): sent once, just before a
    /// chunk's reply, so that rank 0 stops at that chunk as if the signal had reached it.
    case stopRequested
}

/// The preference trainer's settings, the same on every rank.
public struct PreferenceSetup: Codable, Sendable {
    public var loss: PreferenceLossKind
    public var settings: LossSettings
    public var adamW: AdamWSettings
    public var maxGradNorm: Float?
    public var microBatchTokens: Int
    public var reductionShards: Int
    /// LoRA and ZeRO-1.
    public var scope: TrainingScope
    public init(loss: PreferenceLossKind, settings: LossSettings, adamW: AdamWSettings, maxGradNorm: Float?, microBatchTokens: Int = 4096,
                reductionShards: Int = 1, scope: TrainingScope = .full) {
        self.loss = loss; self.settings = settings; self.adamW = adamW; self.maxGradNorm = maxGradNorm; self.microBatchTokens = microBatchTokens
        self.reductionShards = reductionShards; self.scope = scope
    }
    public func makeTrainer(model: LlamaModel, comm: Communicator) throws -> PreferenceTrainer {
        try PreferenceTrainer(model: model, loss: PreferenceLosses.make(loss, settings), adamW: adamW, maxGradNorm: maxGradNorm,
                              microBatchTokens: microBatchTokens, comm: comm, reductionShards: reductionShards, scope: scope)
    }
}

/// A failure of the cluster runtime (a test's injected failure, a model without a tokenizer).
public struct ClusterError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
