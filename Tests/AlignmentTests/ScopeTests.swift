import Testing
import Foundation
import Alignment
import Distributed
import Kernels
import Model
import TestSupport

/// `TrainingScope` in the supervised trainer (SFT, rejection sampling, the control arm): LoRA trains the
/// adapters only, and the scope's mistakes are refused.
@Suite struct TrainingScopeTests {
    @Test func supervisedLoRATrainsOnlyTheAdaptersAndLowersTheLoss() throws {
        let config = LlamaConfig.named("micro", vocabSize: 40)!
        let model = LlamaModel.randomlyInitialised(config: config, seed: 8, std: 0.2)
        let base = model.params.array
        var rng = TestRNG(3)
        let seqs = (0..<6).map { _ in (0..<12).map { _ in Int32(rng.int(40)) } }
        let batch = TrainBatch(ids: seqs, targets: seqs.map { Array($0.dropFirst()) + [-1] }, learningRate: 1e-2)
        let lora = try LoRAConfig(rank: 4, targets: [.q, .v, .gate, .down])
        let dp = try DataParallelTrainer(model: model, setup: TrainerSetup(adamW: AdamWSettings(learningRate: 1e-2), maxGradNorm: 1,
                                                                           scope: TrainingScope(lora: lora, loraSeed: 5)),
                                         comm: LocalCommunicator())
        #expect(dp.trainer.grads.count == model.adapters!.layout.count && dp.trainer.m.count == model.adapters!.layout.count)
        let first = try dp.step(batch).loss
        var last = first
        for _ in 0..<20 { last = try dp.step(batch).loss }
        #expect(last < first - 0.1, "loss \(first) -> \(last)")
        #expect(model.params.array == base, "the base weights must not move")
        // The same scope again keeps the trained adapters; another one is refused, as is no scope at all.
        let trained = model.adapters!.params.array
        _ = try DataParallelTrainer(model: model, setup: TrainerSetup(adamW: AdamWSettings(), maxGradNorm: 1, scope: TrainingScope(lora: lora)),
                                    comm: LocalCommunicator())
        #expect(model.adapters!.params.array == trained)
        #expect(throws: ModelError.self) {
            _ = try DataParallelTrainer(model: model, setup: TrainerSetup(adamW: AdamWSettings(), maxGradNorm: 1,
                                                                          scope: TrainingScope(lora: try LoRAConfig(rank: 8))), comm: LocalCommunicator())
        }
        #expect(throws: AlignmentError.self) {
            _ = try DataParallelTrainer(model: model, setup: TrainerSetup(adamW: AdamWSettings(), maxGradNorm: 1), comm: LocalCommunicator())
        }
    }

    /// ZeRO's cut: ascending, from 0 to the count, at multiples of 16 (but the end), as even as that allows.
    @Test func shardBoundsCoverTheBufferInEvenAlignedPieces() {
        #expect(Trainer.shardBounds(count: 1000, ranks: 3) == [0, 320, 656, 1000])
        #expect(Trainer.shardBounds(count: 7, ranks: 2) == [0, 0, 7])
        #expect(Trainer.shardBounds(count: 4096, ranks: 4) == [0, 1024, 2048, 3072, 4096])
    }
}
