import Testing
import Foundation
import Generation
import Kernels
import Model
import TestSupport

/// Qwen2 (q/k/v biases), Qwen3 (per-head q/k norms, head_dim 48 != hidden/heads) and Llama 3 RoPE scaling,
/// against transformers' float64 per-token log-probs of tiny random models (../shared/fixtures/families).
@Suite(.serialized) struct ModelFamilyTests {
    static let families = ["qwen2-tiny", "qwen3-tiny", "llama3-rope-tiny"]
    static func directory(_ name: String) -> URL { Paths.fixtures.appendingPathComponent("families/\(name)") }

    @Test(arguments: families) func tokenLogProbsMatchTransformers(_ name: String) throws {
        let loaded = try Checkpoint.load(path: ModelFamilyTests.directory(name).path)
        let reference = try loadJSON(ModelFamilyTests.directory(name).appendingPathComponent("reference.json")) as! [String: Any]
        let sequences = (reference["sequences"] as! [[Int]]).map { $0.map(Int32.init) }
        let expected = reference["token_logprobs"] as! [[Double]]
        let got = try loaded.model.tokenLogProbs(sequences)
        var worst = 0.0
        for (g, e) in zip(got, expected) {
            #expect(g.count == e.count)
            for (a, b) in zip(g, e) { worst = max(worst, abs(Double(a) - b)) }
        }
        #expect(worst < 1e-4, "\(name): worst per-token deviation \(worst)")
        let c = loaded.model.config
        switch name {
        case "qwen2-tiny": #expect(c.family == .qwen2 && c.qkvBias && loaded.model.layout.spec(named: "model.layers.0.self_attn.k_proj.bias") != nil)
        case "qwen3-tiny": #expect(c.family == .qwen3 && c.headDim == 48 && c.qkNorm && !c.tieWordEmbeddings)
        default: #expect(c.family == .llama && c.ropeScaling?.factor == 32)
        }
    }

    /// Generation (the cached forward) gives the same log-probs as the training forward in every family.
    @Test(arguments: families) func generationAgreesWithTheFullForward(_ name: String) throws {
        let model = try Checkpoint.load(path: ModelFamilyTests.directory(name).path).model
        var params = SamplingParameters()
        params.temperature = 1; params.maxNewTokens = 24; params.ignoreEOS = true; params.seed = 5
        let prompt: [Int32] = [3, 17, 200, 41, 9]
        let res = try Generator(model: model, tokenizer: nil, batchSize: 2)
            .generate([GenerationRequest(promptIndex: 0, sampleIndex: 0, prompt: prompt)], params: params)[0]
        let full = try model.tokenLogProbs([prompt + res.tokens])[0]
        let scored = Array(full[(prompt.count - 1)...])
        var worst: Float = 0
        for (a, b) in zip(scored, res.tokenLogprobs) { worst = max(worst, abs(a - b)) }
        #expect(res.tokens.count == 24 && worst < 1e-4, "\(name): \(worst)")
    }

    /// Saved and loaded back, each family's model is the same bits with the same configuration.
    @Test(arguments: families) func saveAndLoadRoundTrip(_ name: String) throws {
        let model = try Checkpoint.load(path: ModelFamilyTests.directory(name).path).model
        let out = Paths.temporaryDirectory("family-\(name)")
        try Checkpoint.save(model, tokenizer: nil, to: out)
        let back = try Checkpoint.load(path: out.path).model
        var expected = model.config
        expected.dtype = "float32"
        #expect(back.config == expected && back.checksum() == model.checksum())
    }
}
