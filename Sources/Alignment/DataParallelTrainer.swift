import Distributed
import Foundation
import Kernels
import Model

/// Optimizer settings every rank applies identically.
public struct TrainerSetup: Codable, Sendable {
    public var adamW: AdamWSettings
    public var maxGradNorm: Float?
    /// Most tokens in one micro-batch (gradient accumulation beyond it).
    public var microBatchTokens: Int
    /// Compare weight checksums across ranks every this many steps (0: never).
    public var checksumEvery: Int
    /// On one process, split each batch into this many contiguous shards and sum their gradients as an
    /// all-reduce over that many ranks does, so a 1-process run reproduces a 2-rank run exactly (1: off).
    public var reductionShards: Int
    /// LoRA and ZeRO-1.
    public var scope: TrainingScope
    public init(adamW: AdamWSettings, maxGradNorm: Float?, microBatchTokens: Int = 4096, checksumEvery: Int = 10,
                reductionShards: Int = 1, scope: TrainingScope = .full) {
        self.adamW = adamW; self.maxGradNorm = maxGradNorm; self.microBatchTokens = microBatchTokens
        self.checksumEvery = checksumEvery; self.reductionShards = reductionShards; self.scope = scope
    }
}

/// One optimizer step's global batch: sequences with their targets (-1 = not scored).
public struct TrainBatch: Codable, Sendable {
    public var ids: [[Int32]]
    public var targets: [[Int32]]
    public var learningRate: Float
    public init(ids: [[Int32]], targets: [[Int32]], learningRate: Float) {
        self.ids = ids; self.targets = targets; self.learningRate = learningRate
    }
}

/// Data-parallel training: every rank holds the same weights, takes its contiguous share of each global
/// batch (in micro-batches), and the gradients are summed over ranks in one all-reduce of the flat
/// buffer before every rank applies the same AdamW step (or, under ZeRO-1, reduce-scattered, each rank
/// updating its shard, and the parameters all-gathered: `Trainer.synchronizedUpdate`). The loss is the mean over the global batch's
/// scored tokens, so the update equals the single-process one up to summation order.
public final class DataParallelTrainer {
    public let trainer: Trainer
    let comm: Communicator
    let setup: TrainerSetup
    /// Seconds spent exchanging gradients and parameters between ranks (cumulative).
    public private(set) var syncSeconds = 0.0
    var reductionScratch: FloatBuffer?

    public init(model: LlamaModel, setup: TrainerSetup, comm: Communicator) throws {
        trainer = try setup.scope.makeTrainer(model: model, adamW: setup.adamW, maxGradNorm: setup.maxGradNorm, comm: comm)
        self.setup = setup
        self.comm = comm
    }

    /// This rank's sequences of a global batch of `count`: a contiguous block, the same on every run.
    public static func share(count: Int, rank: Int, size: Int) -> Range<Int> {
        (count * rank / size)..<(count * (rank + 1) / size)
    }

    public func step(_ batch: TrainBatch) throws -> Trainer.StepResult {
        guard batch.ids.count == batch.targets.count else { throw AlignmentError("train batch: ids and targets differ in count") }
        let globalScored = batch.targets.reduce(0) { $0 + $1.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }
        let scale = globalScored > 0 ? 1 / Double(globalScored) : 0
        trainer.grads.zero()
        var sums = [0.0]
        let emulated = ShardedReduction(shards: setup.reductionShards, comm: comm)
        for shard in 0..<emulated.count {
            let mine = emulated.range(count: batch.ids.count, shard: shard)
            emulated.beginShard(shard, grads: trainer.grads, scratch: &reductionScratch)
            var k = mine.lowerBound
            while k < mine.upperBound {
                var packing = Packing()
                var ids: [Int32] = [], targets: [Int32] = []
                while k < mine.upperBound && (packing.count == 0 || packing.tokens + batch.ids[k].count <= setup.microBatchTokens) {
                    guard batch.ids[k].count == batch.targets[k].count, !batch.ids[k].isEmpty else {
                        throw AlignmentError("train batch: sequence \(k) has \(batch.ids[k].count) ids and \(batch.targets[k].count) targets")
                    }
                    packing.append(length: batch.ids[k].count)
                    ids += batch.ids[k]; targets += batch.targets[k]
                    k += 1
                }
                let (sum, _) = trainer.accumulateNLL(ids: ids, targets: targets, packing: packing, scale: scale)
                sums[0] += sum
            }
            emulated.endShard(shard, grads: trainer.grads, scratch: reductionScratch)
        }
        let (norm, exchange) = try trainer.synchronizedUpdate(comm: comm, sums: &sums, lr: batch.learningRate)
        syncSeconds += exchange
        if comm.size > 1 && setup.checksumEvery > 0 && trainer.step % setup.checksumEvery == 0 {
            try verifyReplicas()
        }
        return Trainer.StepResult(loss: globalScored > 0 ? -sums[0] / Double(globalScored) : 0, gradNorm: norm, tokens: globalScored)
    }

    /// Compares every rank's weight checksum on rank 0; a mismatch is an error naming the ranks.
    public func verifyReplicas() throws {
        try Replicas.verify(trainer.model, step: trainer.step, comm: comm)
    }
}

/// Summing a batch's gradient over contiguous shards in the order of an all-reduce over that many ranks,
/// on one process: shard 0's gradient, then each next shard's computed from zero and added, element by
/// element. For two shards this is exactly what a 2-rank sum all-reduce yields (float addition is
/// commutative), so a 1-process run with `reductionShards = 2` reproduces a 2-rank run bit for bit.
public struct ShardedReduction {
    public let count: Int
    let comm: Communicator
    public init(shards: Int, comm: Communicator) {
        self.comm = comm
        count = comm.size == 1 ? max(1, shards) : 1
    }
    /// The batch items this rank computes for `shard`.
    public func range(count n: Int, shard: Int) -> Range<Int> {
        count > 1 ? DataParallelTrainer.share(count: n, rank: shard, size: count) : DataParallelTrainer.share(count: n, rank: comm.rank, size: comm.size)
    }
    public func beginShard(_ shard: Int, grads: FloatBuffer, scratch: inout FloatBuffer?) {
        guard shard > 0 else { return }
        if scratch == nil || scratch!.count != grads.count { scratch = FloatBuffer(count: grads.count) }
        if shard == 1 { scratch!.copy(from: grads) } else { Residual.add(out: scratch!.pointer, scratch!.pointer, grads.pointer, count: grads.count) }
        grads.zero()
    }
    public func endShard(_ shard: Int, grads: FloatBuffer, scratch: FloatBuffer?) {
        guard shard > 0, shard == count - 1, let scratch else { return }
        Residual.add(out: grads.pointer, grads.pointer, scratch.pointer, count: grads.count)
    }
}

/// Weight checksums compared across ranks.
public enum Replicas {
    /// Compares every rank's weight checksum on rank 0; a mismatch is an error naming the ranks.
    public static func verify(_ model: LlamaModel, step: Int, comm: Communicator) throws {
        var sum = model.checksum()
        let all = try comm.gather(Data(bytes: &sum, count: 8), root: 0)
        guard let all else { return }
        let values = all.map { $0.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
        let differing = values.enumerated().filter { $0.element != values[0] }.map(\.offset)
        if !differing.isEmpty {
            throw AlignmentError("after step \(step) the weights of rank(s) \(differing.map(String.init).joined(separator: ", ")) differ from rank 0's (checksums \(values.map { String($0, radix: 16) }))")
        }
    }
}
