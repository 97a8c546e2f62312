import Testing
import Foundation
import Kernels
import Model
import TestSupport

/// The whole model's backward against central differences of its forward, tensor by tensor.
@Suite(.serialized) struct ModelGradientTests {
    @Test(arguments: [true, false])
    func everyParameterGradientMatchesFiniteDifferences(tied: Bool) throws {
        var config = LlamaConfig.named("micro")!
        config.tieWordEmbeddings = tied
        config.vocabSize = 40
        try check(config)
    }

    /// Qwen2's q/k/v biases, Qwen3's per-head q/k norms with a head_dim other than hidden/heads, and Llama 3
    /// RoPE scaling, each through the whole model.
    @Test(arguments: ["qwen2", "qwen3", "llama3-rope"])
    func everyFamilysGradientMatchesFiniteDifferences(_ name: String) throws {
        var config = LlamaConfig.named("micro")!
        config.vocabSize = 40
        switch name {
        case "qwen2": config.family = .qwen2
        case "qwen3": config.family = .qwen3; config.headDim = 12; config.tieWordEmbeddings = false
        default: config.ropeScaling = RoPEScaling(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 16)
        }
        try check(config)
    }

    func check(_ config: LlamaConfig) throws {
        let model = LlamaModel.randomlyInitialised(config: config, seed: 3, std: 0.2)
        // Norm gains away from 1 so that their gradients are exercised.
        var rng = TestRNG(4)
        for spec in model.layout.tensors where spec.shape.count == 1 {
            for i in 0..<spec.count { model.params[spec.offset + i] = 1 + rng.normal(0.3) }
        }
        let packing = Packing(lengths: [7, 12, 3])
        let ids = (0..<packing.tokens).map { _ in Int32(rng.int(config.vocabSize)) }
        var targets = (0..<packing.tokens).map { _ in Int32(rng.int(config.vocabSize)) }
        targets[6] = -1; targets[15] = -1
        let weights = (0..<packing.tokens).map { _ in rng.normal() }
        let ws = Workspace(config: config)
        func loss() -> Double {
            model.forward(ids: ids, targets: targets, packing: packing, workspace: ws)
            var s = 0.0
            for r in 0..<packing.tokens { s += Double(weights[r]) * Double(ws.logprob.pointer[r]) }
            return s
        }
        _ = loss()
        let grads = FloatBuffer(count: model.parameterCount)
        weights.withUnsafeBufferPointer { model.backward(dlogprob: $0.baseAddress!, grads: grads, workspace: ws) }
        for spec in model.layout.tensors {
            let view = FloatBuffer(count: spec.count), g = FloatBuffer(count: spec.count)
            for i in 0..<spec.count { view[i] = model.params[spec.offset + i]; g[i] = grads[spec.offset + i] }
            // Perturb the model's own parameters through a shadow buffer.
            let ratio = finiteDifferenceRatio(x: view, analytic: g, samples: 24, eps: 1e-2, rtol: 3e-2, atol: 3e-3) {
                for i in 0..<spec.count { model.params[spec.offset + i] = view[i] }
                return loss()
            }
            for i in 0..<spec.count { model.params[spec.offset + i] = view[i] }
            #expect(ratio <= 1, "\(spec.name): worst ratio \(ratio)")
        }
    }
}
