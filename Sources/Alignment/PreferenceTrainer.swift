import Distributed
import Foundation
import Kernels
import Model

/// A preference pair as token ids, with its stored reference log-probs (summed over completion tokens).
public struct TokenizedPair: Codable, Sendable, Equatable {
    public var prompt: [Int32]
    public var chosen: [Int32]
    public var rejected: [Int32]
    public var refChosen: Double?
    public var refRejected: Double?
    public var weight: Double
    public init(prompt: [Int32], chosen: [Int32], rejected: [Int32], refChosen: Double? = nil, refRejected: Double? = nil, weight: Double = 1) {
        self.prompt = prompt; self.chosen = chosen; self.rejected = rejected
        self.refChosen = refChosen; self.refRejected = refRejected; self.weight = weight
    }
}

/// Per-step numbers, averaged over the step's global batch of pairs.
public struct PreferenceStepMetrics: Codable, Sendable {
    public var loss: Double
    public var rewardMargin: Double
    /// Fraction of pairs whose chosen reward is above the rejected one.
    public var accuracy: Double
    public var chosenLength: Double
    public var rejectedLength: Double
    public var policyChosenLogps: Double
    public var policyRejectedLogps: Double
    /// The mean implicit rewards (TRL's `rewards/chosen`, `rewards/rejected`) and NLL term (`nll_loss`).
    public var rewardChosen: Double
    public var rewardRejected: Double
    public var nll: Double
    public var gradNorm: Double
    public var learningRate: Double
    public var tokensPerSecond: Double
    public var pairs: Int
}

/// The data-parallel preference trainer: each rank takes a contiguous share of the step's pairs, runs
/// chosen and rejected of a micro-batch of pairs in one packed forward (each prompt once, see `pack`), backpropagates the loss's
/// gradient with respect to the summed completion log-probs, and the gradients are summed over ranks in
/// one all-reduce before the shared AdamW step. The loss is the mean over the global batch of pairs.
public final class PreferenceTrainer {
    public let trainer: Trainer
    public var loss: PreferenceLoss
    public var microBatchTokens: Int
    let comm: Communicator
    let dlogprob = Scratch()
    /// See `TrainerSetup.reductionShards`.
    public var reductionShards: Int
    var reductionScratch: FloatBuffer?
    /// Weight checksums are compared across ranks every this many steps.
    static let checksumEvery = 10

    public init(model: LlamaModel, loss: PreferenceLoss, adamW: AdamWSettings, maxGradNorm: Float?,
                microBatchTokens: Int = 4096, comm: Communicator, reductionShards: Int = 1, scope: TrainingScope = .full) throws {
        trainer = try scope.makeTrainer(model: model, adamW: adamW, maxGradNorm: maxGradNorm, comm: comm)
        self.loss = loss
        self.microBatchTokens = microBatchTokens
        self.comm = comm
        self.reductionShards = reductionShards
    }

    /// Packs each pair as one tree (`Packing.appendTree`): the prompt but its last token is shared, then
    /// two branches, [last prompt token, chosen but its last token] and the same for rejected, whose
    /// targets are the completion tokens. The prompt is computed once, not once per completion, and every
    /// completion token is still scored exactly as in prompt + completion alone. Returns the first row of
    /// each pair's chosen branch (its rejected branch follows the chosen one's `chosen.count` rows).
    static func pack(_ pairs: ArraySlice<TokenizedPair>) -> (ids: [Int32], targets: [Int32], packing: Packing, chosenRows: [Int]) {
        var ids: [Int32] = [], targets: [Int32] = []
        var packing = Packing()
        var rows: [Int] = []
        for p in pairs {
            let shared = p.prompt.count - 1
            packing.appendTree(prefix: shared, branches: [p.chosen.count, p.rejected.count])
            ids += p.prompt[..<shared]
            targets += repeatElement(-1, count: shared)
            rows.append(ids.count)
            for completion in [p.chosen, p.rejected] {
                ids.append(p.prompt[shared]); ids += completion.dropLast()
                targets += completion
            }
        }
        return (ids, targets, packing, rows)
    }

    /// Rows a pair takes in `pack`.
    static func packedRows(_ p: TokenizedPair) -> Int { p.prompt.count - 1 + p.chosen.count + p.rejected.count }

    public func step(_ pairs: [TokenizedPair], lr: Float) throws -> PreferenceStepMetrics {
        let start = Date()
        for (k, p) in pairs.enumerated() {
            guard !p.prompt.isEmpty, !p.chosen.isEmpty, !p.rejected.isEmpty else { throw AlignmentError("pair \(k) has an empty prompt or completion") }
            if loss.usesReference && (p.refChosen == nil || p.refRejected == nil) {
                throw AlignmentError("pair \(k) has no reference log-probs (the \(loss.name) loss needs them)")
            }
        }
        let n = Double(max(pairs.count, 1))
        trainer.grads.zero()
        // sums: loss, margin, correct, chosen len, rejected len, policy chosen, policy rejected, tokens,
        // reward chosen, reward rejected, nll
        var sums = [Double](repeating: 0, count: 11)
        let emulated = ShardedReduction(shards: reductionShards, comm: comm)
        for shard in 0..<emulated.count {
            let mine = emulated.range(count: pairs.count, shard: shard)
            emulated.beginShard(shard, grads: trainer.grads, scratch: &reductionScratch)
            var k = mine.lowerBound
            while k < mine.upperBound {
                var end = k, tokens = 0
                while end < mine.upperBound {
                    let t = PreferenceTrainer.packedRows(pairs[end])
                    if end > k && tokens + t > microBatchTokens { break }
                    tokens += t; end += 1
                }
                let batch = pairs[k..<end]
                let (ids, targets, packing, chosenRows) = PreferenceTrainer.pack(batch)
                trainer.model.forward(ids: ids, targets: targets, packing: packing, workspace: trainer.workspace)
                let lp = trainer.workspace.logprob.pointer
                let d = dlogprob.ensure(packing.tokens)
                d.update(repeating: 0, count: packing.tokens)
                for (j, p) in batch.enumerated() {
                    let sc = chosenRows[j], sr = sc + p.chosen.count
                    var pc = 0.0, pr = 0.0
                    for t in sc..<(sc + p.chosen.count) { pc += Double(lp[t]) }
                    for t in sr..<(sr + p.rejected.count) { pr += Double(lp[t]) }
                    let v = loss.evaluate(PairLogps(policyChosen: pc, policyRejected: pr, refChosen: p.refChosen ?? 0,
                                                    refRejected: p.refRejected ?? 0, chosenLength: p.chosen.count,
                                                    rejectedLength: p.rejected.count, weight: p.weight))
                    (d + sc).update(repeating: Float(v.dChosen / n), count: p.chosen.count)
                    (d + sr).update(repeating: Float(v.dRejected / n), count: p.rejected.count)
                    sums[0] += v.loss; sums[1] += v.rewardChosen - v.rewardRejected
                    sums[2] += v.rewardChosen > v.rewardRejected ? 1 : 0
                    sums[3] += Double(p.chosen.count); sums[4] += Double(p.rejected.count)
                    sums[5] += pc; sums[6] += pr
                    sums[8] += v.rewardChosen; sums[9] += v.rewardRejected; sums[10] += v.nll
                }
                sums[7] += Double(packing.tokens)
                trainer.model.backward(dlogprob: d, grads: trainer.grads, workspace: trainer.workspace)
                k = end
            }
            emulated.endShard(shard, grads: trainer.grads, scratch: reductionScratch)
        }
        let norm = try trainer.synchronizedUpdate(comm: comm, sums: &sums, lr: lr).norm
        if comm.size > 1 && trainer.step % PreferenceTrainer.checksumEvery == 0 {
            try Replicas.verify(trainer.model, step: trainer.step, comm: comm)
        }
        let seconds = Date().timeIntervalSince(start)
        return PreferenceStepMetrics(loss: sums[0] / n, rewardMargin: sums[1] / n, accuracy: sums[2] / n,
                                     chosenLength: sums[3] / n, rejectedLength: sums[4] / n,
                                     policyChosenLogps: sums[5] / n, policyRejectedLogps: sums[6] / n,
                                     rewardChosen: sums[8] / n, rewardRejected: sums[9] / n, nll: sums[10] / n,
                                     gradNorm: Double(norm), learningRate: Double(lr), tokensPerSecond: sums[7] / seconds,
                                     pairs: pairs.count)
    }
}

/// Summed completion log-probabilities: log M(completion | prompt), each sequence scored unpadded.
public enum CompletionScoring {
    public static func logps(_ model: LlamaModel, prompts: [[Int32]], completions: [[Int32]], tokenBudget: Int = 4096) throws -> [Double] {
        guard prompts.count == completions.count else { throw AlignmentError("prompts and completions differ in count") }
        for (k, (p, c)) in zip(prompts, completions).enumerated() where p.isEmpty || c.isEmpty {
            throw AlignmentError("sequence \(k) has an empty prompt or completion")
        }
        let per = try model.tokenLogProbs(zip(prompts, completions).map { $0 + $1 }, tokenBudget: tokenBudget)
        return zip(prompts, per).map { p, lp in lp[(p.count - 1)...].reduce(0.0) { $0 + Double($1) } }
    }

    /// Reference log-probs for every pair (chosen and rejected), filled into the pairs.
    public static func fillReference(_ pairs: inout [TokenizedPair], model: LlamaModel) throws {
        let prompts = pairs.flatMap { [$0.prompt, $0.prompt] }
        let completions = pairs.flatMap { [$0.chosen, $0.rejected] }
        let values = try logps(model, prompts: prompts, completions: completions)
        for k in pairs.indices { pairs[k].refChosen = values[2 * k]; pairs[k].refRejected = values[2 * k + 1] }
    }
}
