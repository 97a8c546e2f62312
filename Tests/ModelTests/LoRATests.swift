import Testing
import Foundation
import Kernels
import Model
import Generation
import TestSupport

/// LoRA adapters: the base's function at initialisation, gradients against finite differences, and the
/// merged weights against the adapter path.
@Suite(.serialized) struct LoRATests {
    static func model(_ family: String = "llama") -> LlamaModel {
        var config = LlamaConfig.named("micro")!
        config.vocabSize = 40
        if family == "qwen2" { config.family = .qwen2 }
        if family == "qwen3" { config.family = .qwen3; config.headDim = 12; config.tieWordEmbeddings = false }
        return LlamaModel.randomlyInitialised(config: config, seed: 3, std: 0.2)
    }

    static func sequences(_ vocab: Int) -> [[Int32]] {
        var rng = TestRNG(9)
        return [7, 12, 3].map { n in (0..<n).map { _ in Int32(rng.int(vocab)) } }
    }

    /// Gives B values too (B starts at zero), so that both adapter matrices matter.
    static func randomiseB(_ a: LoRAAdapters, seed: UInt64, scale: Float = 0.3) {
        var rng = TestRNG(seed)
        for spec in a.layout.tensors where spec.name.hasSuffix("lora_B.weight") {
            for i in 0..<spec.count { a.params[spec.offset + i] = rng.normal(scale) }
        }
    }

    @Test func zeroInitialisedAdaptersGiveExactlyTheBasesLogProbs() throws {
        let m = LoRATests.model("qwen2"), seqs = LoRATests.sequences(40)
        let base = try m.tokenLogProbs(seqs)
        try m.attach(try LoRAConfig(rank: 4), seed: 1)
        // A is not zero: the product x A^T is real, and B = 0 must still add exactly nothing.
        let a = m.adapters!
        #expect((0..<a.params.count).contains { a.params[$0] != 0 })
        #expect(try m.tokenLogProbs(seqs) == base)
        LoRATests.randomiseB(a, seed: 2)
        #expect(try m.tokenLogProbs(seqs) != base)
        a.enabled = false
        #expect(try m.tokenLogProbs(seqs) == base, "adapters off must be the base exactly")
    }

    @Test(arguments: ["llama", "qwen2", "qwen3"])
    func adapterGradientsMatchFiniteDifferences(_ family: String) throws {
        let m = LoRATests.model(family)
        try m.attach(try LoRAConfig(rank: 3, alpha: 5, targets: LoRATarget.allCases), seed: 7)
        let a = m.adapters!
        LoRATests.randomiseB(a, seed: 5)
        let config = m.config
        var rng = TestRNG(4)
        let packing = Packing(lengths: [7, 12, 3])
        let ids = (0..<packing.tokens).map { _ in Int32(rng.int(config.vocabSize)) }
        var targets = (0..<packing.tokens).map { _ in Int32(rng.int(config.vocabSize)) }
        targets[6] = -1
        let weights = (0..<packing.tokens).map { _ in rng.normal() }
        let ws = Workspace(config: config)
        func loss() -> Double {
            m.forward(ids: ids, targets: targets, packing: packing, workspace: ws)
            var s = 0.0
            for r in 0..<packing.tokens { s += Double(weights[r]) * Double(ws.logprob.pointer[r]) }
            return s
        }
        let before = m.params.pointer[m.layout.layers[0].down]
        _ = loss()
        let grads = FloatBuffer(count: a.layout.count)
        weights.withUnsafeBufferPointer { m.backward(dlogprob: $0.baseAddress!, grads: grads, workspace: ws) }
        #expect(m.params.pointer[m.layout.layers[0].down] == before)
        for spec in a.layout.tensors {
            let view = FloatBuffer(count: spec.count), g = FloatBuffer(count: spec.count)
            for i in 0..<spec.count { view[i] = a.params[spec.offset + i]; g[i] = grads[spec.offset + i] }
            #expect((0..<spec.count).contains { g[$0] != 0 }, "\(spec.name): no gradient at all")
            let ratio = finiteDifferenceRatio(x: view, analytic: g, samples: 16, eps: 1e-2, rtol: 3e-2, atol: 3e-3) {
                for i in 0..<spec.count { a.params[spec.offset + i] = view[i] }
                return loss()
            }
            for i in 0..<spec.count { a.params[spec.offset + i] = view[i] }
            #expect(ratio <= 1, "\(spec.name): worst ratio \(ratio)")
        }
    }

    @Test func mergedWeightsScoreAsTheAdapterPathWithin1e5() throws {
        for targets in [LoRATarget.allCases, [.q, .v], [.k, .up, .down]] {
            let m = LoRATests.model("qwen2"), seqs = LoRATests.sequences(40)
            try m.attach(try LoRAConfig(rank: 4, targets: targets), seed: 1)
            LoRATests.randomiseB(m.adapters!, seed: 3)
            let viaAdapters = try m.tokenLogProbs(seqs), merged = try m.merged().tokenLogProbs(seqs)
            let base = try LoRATests.model("qwen2").tokenLogProbs(seqs)
            var worst: Float = 0, moved: Float = 0
            for (x, y) in zip(viaAdapters.joined(), merged.joined()) { worst = max(worst, abs(x - y)) }
            for (x, y) in zip(viaAdapters.joined(), base.joined()) { moved = max(moved, abs(x - y)) }
            #expect(worst <= 1e-5, "targets \(targets): merged differs by \(worst)")
            #expect(moved > 1e-2, "targets \(targets): the adapters changed nothing (\(moved))")
        }
    }

    /// Generation merges the adapters into its packed weights: its scoring equals the training forward's (which
    /// applies them on the fly) within 1e-5, and with the adapters off it is the base's again.
    @Test func theInferencePathMergesTheAdapters() throws {
        let m = LoRATests.model("qwen2"), seqs = LoRATests.sequences(40)
        try m.attach(try LoRAConfig(rank: 4, targets: [.q, .k, .o, .up, .down]), seed: 1)
        LoRATests.randomiseB(m.adapters!, seed: 3)
        let training = try m.tokenLogProbs(seqs), inference = try Generator.tokenLogProbs(model: m, seqs)
        #expect(zip(training.joined(), inference.joined()).allSatisfy { abs($0 - $1) <= 1e-5 })
        m.adapters!.enabled = false
        let base = try Generator.tokenLogProbs(model: m, seqs)
        #expect(zip(base.joined(), try LoRATests.model("qwen2").tokenLogProbs(seqs).joined()).allSatisfy { abs($0 - $1) <= 1e-5 })
        #expect(zip(base.joined(), inference.joined()).contains { abs($0 - $1) > 1e-2 })
    }

    @Test func targetsParseAndBadValuesAreRefused() throws {
        #expect(try LoRAConfig.targets("q, v,down_proj") == [.q, .v, .down])
        #expect(throws: ModelError.self) { try LoRAConfig.targets("q,attn") }
        #expect(throws: ModelError.self) { try LoRAConfig(rank: 0) }
        #expect(throws: ModelError.self) { try LoRAConfig(rank: 4, alpha: -1) }
        let c = try LoRAConfig(rank: 8, targets: [.v, .q])
        #expect(c.targets == [.q, .v] && c.alpha == 16 && c.scale == 2)
        let m = LoRATests.model()
        try m.attach(c, seed: 1)
        #expect(throws: ModelError.self) { try m.attach(try LoRAConfig(rank: 4), seed: 1) }
        // PEFT's names and shapes: A [r, in], B [out, r].
        let spec = m.adapters!.layout.tensors
        #expect(spec.map(\.name).prefix(4) == ["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                                              "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight",
                                              "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
                                              "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight"])
        #expect(spec[0].shape == [8, m.config.hiddenSize] && spec[3].shape == [m.config.kvDim, 8])
    }
}
