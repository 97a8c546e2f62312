import Testing
import Foundation
import Model
import Tokenizer
import TestSupport

/// The second real model: Qwen2.5-Coder-0.5B-Instruct as a Q4_K_M GGUF (`make setup-model` assembles it
/// into models/), against what transformers makes of the same file
/// (../shared/fixtures/families/qwen25-coder-gguf.json): tokenizer encodings, per-token log-probs of a chat
/// text, and the greedy answer of `autodidact generate --chat`.
@Suite(.serialized) struct QwenGGUFTests {
    static let path = Paths.repo.appendingPathComponent("models/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf").path
    static let reference = try! loadJSON(Paths.fixtures.appendingPathComponent("families/qwen25-coder-gguf.json")) as! [String: Any]
    nonisolated(unsafe) static var cached: LoadedModel?
    static func load() throws -> LoadedModel {
        if let m = cached { return m }
        let m = try Checkpoint.load(path: path)
        cached = m
        return m
    }

    @Test func itLoadsAsQwen2UntiedWithItsTokenizer() throws {
        let loaded = try QwenGGUFTests.load()
        let c = loaded.model.config
        #expect(c.family == .qwen2 && c.numLayers == 24 && c.hiddenSize == 896 && c.intermediateSize == 4864)
        #expect(c.numHeads == 14 && c.numKVHeads == 2 && c.ropeTheta == 1_000_000 && c.vocabSize == 151_936)
        // This file stores the LM head (Q8_0) apart from the embedding (Q5_0): untied, as transformers reads it.
        #expect(!c.tieWordEmbeddings && loaded.model.layout.spec(named: "lm_head.weight") != nil)
        let t = try #require(loaded.tokenizer)
        for case let e as [String: Any] in QwenGGUFTests.reference["encodings"] as! [Any] {
            let text = e["text"] as! String, ids = (e["ids"] as! [Int]).map(Int32.init)
            #expect(t.encode(text) == ids, "\(text)")
        }
    }

    @Test func logProbsOfAChatTextMatchTransformers() throws {
        let loaded = try QwenGGUFTests.load()
        let lp = QwenGGUFTests.reference["logprobs"] as! [String: Any]
        let ids = (lp["ids"] as! [Int]).map(Int32.init)
        let expected = lp["token_logprobs"] as! [Double]
        let got = try loaded.model.tokenLogProbs([ids])[0]
        #expect(got.count == expected.count)
        var worst = 0.0
        for (a, b) in zip(got, expected) { worst = max(worst, abs(Double(a) - b)) }
        #expect(worst < 1e-3, "worst per-token deviation \(worst) over \(got.count) tokens")
    }

    @Test func greedyChatAnswerIsTransformers() throws {
        let greedy = QwenGGUFTests.reference["greedy"] as! [String: Any]
        let r = try autodidact(["generate", "--model", QwenGGUFTests.path, "--prompt", greedy["prompt"] as! String, "--chat",
                                "--max-new-tokens", "12", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let out = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        // The reference ends with the end-of-turn token, where generation stops (and which it does not return).
        let ids = greedy["ids"] as! [Int]
        #expect(out["ids"] as? [Int] == Array(ids.dropLast()), "\(r.stdout)")
        #expect(out["text"] as? String == "The capital of France is Paris.")
    }

    /// `convert` writes a Hugging Face directory that gguf-py (every tensor, dequantised), safetensors,
    /// tokenizers and transformers' AutoConfig/AutoTokenizer read back as the GGUF.
    @Test func convertWritesADirectoryTheReferenceToolsReadBack() throws {
        let dir = Paths.temporaryDirectory("qwen-convert").appendingPathComponent("qwen-hf")
        let conv = try autodidact(["convert", QwenGGUFTests.path, dir.path])
        #expect(conv.status == 0, "\(conv.stderr)")
        let check = try run(["python3", Paths.repo.appendingPathComponent("Tests/scripts/check_converted.py").path, QwenGGUFTests.path, dir.path,
                             Paths.fixtures.appendingPathComponent("families/qwen25-coder-gguf.json").path])
        #expect(check.status == 0, "check_converted.py: \(check.stdout) \(check.stderr)")
        try? FileManager.default.removeItem(at: dir.deletingLastPathComponent())
    }

    /// Parts put together in the wrong order, or one missing, are refused with what is wrong.
    @Test func misassembledFilesAreRefused() throws {
        let whole = try Data(contentsOf: URL(fileURLWithPath: QwenGGUFTests.path), options: .alwaysMapped)
        let part = 89_128_960
        let dir = Paths.temporaryDirectory("qwen-parts")
        let swapped = dir.appendingPathComponent("swapped.gguf"), truncated = dir.appendingPathComponent("truncated.gguf")
        try (whole[part..<(2 * part)] + whole[0..<part] + whole[(2 * part)...]).write(to: swapped)
        try whole[0..<(5 * part)].write(to: truncated)
        for (url, needle) in [(swapped, "not a GGUF file"), (truncated, "lie beyond the end of the data")] {
            do { _ = try Checkpoint.load(path: url.path); Issue.record("\(url.lastPathComponent) loaded") } catch {
                #expect("\(error)".contains(url.path) && "\(error)".contains(needle), "\(error)")
            }
        }
        try? FileManager.default.removeItem(at: dir)
    }
}
