import Distributed
import Foundation
import Kernels
import Model

/// What a data-parallel trainer trains and how its ranks share the optimizer: LoRA adapters (or every
/// parameter) and ZeRO-1 (each rank holding the AdamW moments of one shard) or replicated moments.
public struct TrainingScope: Codable, Sendable, Equatable {
    public var lora: LoRAConfig?
    /// The stream the adapters' A matrices are drawn from (the same on every rank).
    public var loraSeed: UInt64
    /// 1: ZeRO stage 1; 0: every rank holds all the moments.
    public var zero: Int
    public init(lora: LoRAConfig? = nil, loraSeed: UInt64 = 0, zero: Int = 0) { self.lora = lora; self.loraSeed = loraSeed; self.zero = zero }
    public static let full = TrainingScope()

    /// A trainer of `model` on this rank: the adapters attached first when asked, the moments sharded under ZeRO.
    public func makeTrainer(model: LlamaModel, adamW: AdamWSettings, maxGradNorm: Float?, comm: Communicator) throws -> Trainer {
        if let lora { try model.attach(lora, seed: loraSeed) } else if model.adapters != nil {
            throw AlignmentError("the model carries LoRA adapters but the training has no lora settings (give the same rank, alpha and targets)")
        }
        var shard: Range<Int>? = nil
        if zero == 1 && comm.size > 1 {
            let bounds = Trainer.shardBounds(count: model.trainable.count, ranks: comm.size)
            shard = bounds[comm.rank]..<bounds[comm.rank + 1]
        }
        return Trainer(model: model, settings: adamW, maxGradNorm: maxGradNorm, shard: shard)
    }
}

extension Trainer {
    /// After every rank's backward: the gradients (and the step's `sums`) summed over ranks, clipping, AdamW,
    /// and under ZeRO-1 the parameters all-gathered. Replicated: one all-reduce of the whole gradient, every
    /// rank updating everything. ZeRO-1: a reduce-scatter leaves each rank the sum of its shard, the global
    /// norm comes from the shards' sums of squares (all-reduced with `sums`), each rank updates its shard with
    /// its moments, and an all-gather gives every rank every updated parameter. Returns the pre-clip norm and
    /// the seconds spent in the collectives.
    @discardableResult
    public func synchronizedUpdate(comm: Communicator, sums: inout [Double], lr: Float) throws -> (norm: Float, exchangeSeconds: Double) {
        guard comm.size > 1 else {
            stopRequestedAnywhere = StopRequest.isRequested
            return (applyUpdate(lr: lr, lossIsFinite: sums.allSatisfy(\.isFinite)), 0)
        }
        // The stop request rides on the step's all-reduce of `sums`, removed again before anyone reads them.
        sums.append(StopRequest.isRequested ? 1 : 0)
        var exchange = 0.0
        func timed(_ body: () throws -> Void) rethrows {
            let t0 = Date()
            try body()
            exchange += Date().timeIntervalSince(t0)
        }
        guard isSharded else {
            try timed {
                try comm.allReduce(grads.pointer, count: grads.count, op: .sum)
                try comm.allReduce(&sums, op: .sum)
            }
            stopRequestedAnywhere = sums.removeLast() > 0
            return (applyUpdate(lr: lr, lossIsFinite: sums.allSatisfy(\.isFinite)), exchange)
        }
        let bounds = Trainer.shardBounds(count: grads.count, ranks: comm.size)
        try timed { try comm.reduceScatter(grads.pointer, bounds: bounds) }
        sums.append(GradientClipping.sumOfSquares(grads.pointer + shard.lowerBound, count: shard.count))
        try timed { try comm.allReduce(&sums, op: .sum) }
        let sumOfSquares = sums.removeLast()
        stopRequestedAnywhere = sums.removeLast() > 0
        let norm = applyUpdate(lr: lr, globalNorm: Float(sumOfSquares.squareRoot()), lossIsFinite: sums.allSatisfy(\.isFinite))
        try timed { try comm.allGather(model.trainable.pointer, bounds: bounds) }
        return (norm, exchange)
    }

    /// The whole optimizer state on rank 0 (nil elsewhere): under ZeRO every rank's moments gathered there;
    /// every rank must call it together.
    public func gatheredState(comm: Communicator) throws -> OptimizerState? {
        guard isSharded else { return comm.rank == 0 ? wholeState : nil }
        let bounds = Trainer.shardBounds(count: grads.count, ranks: comm.size)
        let m = comm.rank == 0 ? FloatBuffer(count: grads.count) : nil, v = comm.rank == 0 ? FloatBuffer(count: grads.count) : nil
        try comm.gather(self.m.pointer, into: m?.pointer, bounds: bounds, root: 0)
        try comm.gather(self.v.pointer, into: v?.pointer, bounds: bounds, root: 0)
        return m.map { OptimizerState(m: $0, v: v!, step: step) }
    }
}
