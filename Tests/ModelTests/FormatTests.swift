import Testing
import Foundation
import Kernels
import Model
import Tokenizer
import TestSupport

@Suite(.serialized) struct ConfigTests {
    @Test func readsTransformers5AndTransformers4Spellings() throws {
        let v5 = try LlamaConfig.parse(try Data(contentsOf: Paths.nanoLlama.appendingPathComponent("config.json")), file: "nano").config
        #expect(v5 == LlamaConfig(vocabSize: 512, hiddenSize: 256, intermediateSize: 688, numLayers: 4, numHeads: 4,
                                  numKVHeads: 4, headDim: 64, maxPositions: 512, ropeTheta: 10000, rmsNormEps: 1e-5,
                                  tieWordEmbeddings: true, bosTokenId: 1, eosTokenIds: [2], dtype: "float32"))
        let v4 = """
        {"model_type": "llama", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
         "num_attention_heads": 8, "num_key_value_heads": 2, "rope_theta": 500000.0, "torch_dtype": "bfloat16",
         "rms_norm_eps": 1e-6, "rope_scaling": null, "tie_word_embeddings": false, "eos_token_id": [5, 7], "my_key": 1}
        """
        let (c, unknown) = try LlamaConfig.parse(Data(v4.utf8), file: "v4")
        #expect(c.ropeTheta == 500000 && c.dtype == "bfloat16" && c.headDim == 8 && c.numKVHeads == 2)
        #expect(!c.tieWordEmbeddings && c.eosTokenIds == [5, 7] && c.rmsNormEps == 1e-6)
        #expect(unknown == ["my_key"])
        // Written config reads back identically.
        var saved = c
        saved.dtype = "float32"  // what we write is float32
        #expect(try LlamaConfig.parse(c.jsonData(), file: "roundtrip").config == saved)
    }

    @Test func unsupportedFeaturesAndBadValuesAreRefusedNamingTheKey() {
        let base = "\"vocab_size\": 100, \"hidden_size\": 64, \"intermediate_size\": 96, \"num_hidden_layers\": 2, \"num_attention_heads\": 8"
        let cases: [(String, String)] = [
            ("{\(base), \"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 8.0}}", "'rope_scaling.rope_type': 'dynamic' is not supported (default or llama3); supported: model_type llama, qwen2 or qwen3"),
            ("{\(base), \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}}", "'rope_scaling.low_freq_factor': is required"),
            ("{\(base), \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1, \"high_freq_factor\": 4, \"original_max_position_embeddings\": 1e300}}",
             "'rope_scaling.original_max_position_embeddings': expected a positive integer of at most 16777216, got 1e+300"),
            ("{\(base), \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 4, \"high_freq_factor\": 4, \"original_max_position_embeddings\": 8192}}",
             "'rope_scaling.high_freq_factor': must be larger than low_freq_factor (4.0), got 4.0"),
            ("{\(base), \"rope_theta\": 1e60}", "'rope_theta': must be positive and finite, got inf"),
            ("{\(base), \"model_type\": \"qwen2\", \"use_sliding_window\": true}", "'use_sliding_window'"),
            ("{\(base), \"model_type\": \"qwen3\", \"layer_types\": [\"sliding_attention\"]}", "'layer_types'"),
            ("{\(base), \"rope_parameters\": {\"rope_type\": \"yarn\", \"rope_theta\": 10000}}", "'rope_parameters.rope_type'"),
            ("{\(base), \"attention_bias\": true}", "'attention_bias'"),
            ("{\(base), \"mlp_bias\": true}", "'mlp_bias'"),
            ("{\(base), \"hidden_act\": \"gelu\"}", "'hidden_act'"),
            ("{\(base), \"model_type\": \"mistral\"}", "'model_type'"),
            ("{\(base), \"sliding_window\": 4096}", "'sliding_window'"),
            ("{\(base), \"num_key_value_heads\": 3}", "'num_key_value_heads'"),
            ("{\"vocab_size\": 100, \"hidden_size\": \"64\", \"intermediate_size\": 96, \"num_hidden_layers\": 2, \"num_attention_heads\": 8}", "'hidden_size': expected an integer"),
            ("{\"vocab_size\": 100, \"hidden_size\": 64, \"intermediate_size\": 96, \"num_attention_heads\": 8}", "'num_hidden_layers': is required"),
            ("{\(base), \"tie_word_embeddings\": 1}", "'tie_word_embeddings'"),
            ("{\(base)", "not valid JSON"),
            ("[1, 2]", "expected a JSON object"),
        ]
        for (json, needle) in cases {
            do {
                _ = try LlamaConfig.parse(Data(json.utf8), file: "cfg.json")
                Issue.record("accepted: \(json) (expected \(needle))")
            } catch {
                #expect("\(error)".contains("cfg.json") && "\(error)".contains(needle), "\(error)")
            }
        }
    }
}

@Suite(.serialized) struct SafetensorsTests {
    func microModel(tied: Bool = true) -> LlamaModel {
        var c = LlamaConfig.named("micro", vocabSize: 259)!
        c.tieWordEmbeddings = tied
        return LlamaModel.randomlyInitialised(config: c, seed: 11)
    }

    @Test(arguments: [true, false])
    func saveAndLoadRoundTripExactly(tied: Bool) throws {
        let model = microModel(tied: tied)
        let dir = Paths.temporaryDirectory("st-roundtrip-\(tied)")
        try Checkpoint.save(model, tokenizer: BPETokenizer.bytes(), to: dir)
        let back = try Checkpoint.load(path: dir.path)
        #expect(back.model.config == model.config)
        #expect(back.model.params.array == model.params.array)
        #expect(back.tokenizer?.tokens == BPETokenizer.bytes().tokens)
        // No temporary files are left behind.
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(files == ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"])
    }

    /// Builds a safetensors file from raw (name, dtype, shape, bytes).
    func file(_ tensors: [(String, String, [Int], Data)]) -> Data {
        var header = "{"
        var offset = 0
        var body = Data()
        for (i, t) in tensors.enumerated() {
            header += (i > 0 ? "," : "") + "\"\(t.0)\":{\"dtype\":\"\(t.1)\",\"shape\":\(t.2),\"data_offsets\":[\(offset),\(offset + t.3.count)]}"
            offset += t.3.count
            body += t.3
        }
        header += "}"
        var length = UInt64(header.utf8.count).littleEndian
        return Data(bytes: &length, count: 8) + Data(header.utf8) + body
    }

    @Test func readsF16AndBF16Exactly() throws {
        // Known encodings: 1.0, -2.5, 65504 (max half), 2^-24 (smallest subnormal), -0.0
        let f16: [UInt16] = [0x3C00, 0xC100, 0x7BFF, 0x0001, 0x8000]
        let f16Expected: [Float] = [1, -2.5, 65504, 0x1p-24, -0.0]
        // bf16: 1.0, -2.5, 3.140625 (0x4049), 1e38-ish 0x7E96
        let bf16: [UInt16] = [0x3F80, 0xC020, 0x4049, 0x7E96]
        let bf16Expected: [Float] = [1, -2.5, 3.140625, Float(bitPattern: 0x7E96_0000)]
        func bytes(_ v: [UInt16]) -> Data { v.reduce(into: Data()) { d, x in withUnsafeBytes(of: x.littleEndian) { d += $0 } } }
        let url = Paths.temporaryDirectory("st-dtypes").appendingPathComponent("x.safetensors")
        try file([("h", "F16", [5], bytes(f16)), ("b", "BF16", [2, 2], bytes(bf16))]).write(to: url)
        let st = try SafetensorsFile(url: url)
        var out = [Float](repeating: 9, count: 5)
        try out.withUnsafeMutableBufferPointer { try st.read("h", into: $0.baseAddress!) }
        #expect(out.map(\.bitPattern) == f16Expected.map(\.bitPattern))
        var outB = [Float](repeating: 9, count: 4)
        try outB.withUnsafeMutableBufferPointer { try st.read("b", into: $0.baseAddress!) }
        #expect(outB == bf16Expected)
    }

    @Test func strictLoadingNamesTheTensor() throws {
        let model = microModel()
        let good = Paths.temporaryDirectory("st-good")
        try Checkpoint.save(model, tokenizer: nil, to: good)
        let st = try SafetensorsFile(url: good.appendingPathComponent("model.safetensors"))
        func rewrite(_ name: String, _ edit: ([(String, String, [Int], Data)]) -> [(String, String, [Int], Data)]) throws -> String {
            let dir = Paths.temporaryDirectory("st-\(name)")
            try FileManager.default.copyItem(at: good.appendingPathComponent("config.json"), to: dir.appendingPathComponent("config.json"))
            var tensors: [(String, String, [Int], Data)] = []
            for spec in model.layout.tensors {
                let e = st.entries[spec.name]!
                tensors.append((spec.name, "F32", e.shape, Data(bytes: model.params.pointer + spec.offset, count: spec.count * 4)))
            }
            try file(edit(tensors)).write(to: dir.appendingPathComponent("model.safetensors"))
            do { _ = try Checkpoint.load(path: dir.path); return "loaded" } catch { return "\(error)" }
        }
        let missing = try rewrite("missing") { $0.filter { $0.0 != "model.layers.1.mlp.up_proj.weight" } }
        #expect(missing.contains("missing tensor 'model.layers.1.mlp.up_proj.weight'"), "\(missing)")
        let extra = try rewrite("extra") { $0 + [("lm_head.weight", "F32", [259, 32], Data(count: 259 * 32 * 4))] }
        #expect(extra.contains("unexpected tensor 'lm_head.weight'") && extra.contains("tie_word_embeddings"), "\(extra)")
        let shaped = try rewrite("shape") { ts in ts.map { $0.0 == "model.norm.weight" ? ($0.0, $0.1, [16, 2], $0.3) : $0 } }
        #expect(shaped.contains("'model.norm.weight' has shape [16, 2], expected [32]"), "\(shaped)")
        let nan = try rewrite("nan") { ts in ts.map { $0.0 == "model.norm.weight" ? ($0.0, $0.1, $0.2, Data(repeating: 0xFF, count: 128)) : $0 } }
        #expect(nan.contains("non-finite") && nan.contains("model.norm.weight"), "\(nan)")
    }

    @Test func truncatedAndBitFlippedFilesGiveErrorsNotCrashes() throws {
        let model = microModel()
        let dir = Paths.temporaryDirectory("st-corrupt")
        try Checkpoint.save(model, tokenizer: nil, to: dir)
        let url = dir.appendingPathComponent("model.safetensors")
        let original = try Data(contentsOf: url)
        let headerLength = Int(original.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = String(decoding: original[8..<(8 + headerLength)], as: UTF8.self)
        func attempt(_ data: Data) -> String {
            try? data.write(to: url)
            do { _ = try Checkpoint.load(path: dir.path); return "loaded" } catch { return "\(error)" }
        }
        // Truncations: inside the length, inside the header, inside the data.
        for cut in [4, 8 + headerLength / 2, original.count - 100, original.count - 1] {
            let message = attempt(original.prefix(cut))
            #expect(message.contains(url.path) && message != "loaded", "cut at \(cut): \(message)")
        }
        // Flips: the header-length word, a structural brace, a digit of an offset, a dtype letter.
        var flips = [7, 8]
        if let r = header.range(of: "data_offsets\":[") { flips.append(8 + header.utf8.distance(from: header.startIndex, to: r.upperBound) + 1) }
        if let r = header.range(of: "\"F32\"") { flips.append(8 + header.utf8.distance(from: header.startIndex, to: r.lowerBound) + 1) }
        for at in flips {
            var d = original
            d[at] ^= 0x04
            let message = attempt(d)
            #expect(message.contains(url.path) && message != "loaded", "flip at \(at): \(message)")
        }
        try original.write(to: url)
        #expect(attempt(original) == "loaded")
    }
}

@Suite(.serialized) struct GGUFTests {
    static func half(_ bits: UInt16) -> Data { GGUFBuilder.le(bits) }

    /// A micro Llama as GGUF: Q and K rows permuted as llama.cpp's converter does, the embedding as Q8_0,
    /// one MLP matrix as Q4_0, one as Q4_1, one as F16, the rest F32.
    static func microGGUF() -> (Data, LlamaModel, [String: [Float]]) {
        var c = LlamaConfig.named("micro")!
        c.vocabSize = 259
        let model = LlamaModel.randomlyInitialised(config: c, seed: 5, std: 0.1)
        var b = GGUFBuilder()
        b.metadata = [("general.architecture", .string("llama")), ("llama.block_count", .u32(2)),
                      ("llama.context_length", .u32(128)), ("llama.embedding_length", .u32(32)),
                      ("llama.feed_forward_length", .u32(48)), ("llama.attention.head_count", .u32(4)),
                      ("llama.attention.head_count_kv", .u32(2)), ("llama.rope.freq_base", .f32(10000)),
                      ("llama.attention.layer_norm_rms_epsilon", .f32(1e-5)), ("llama.rope.dimension_count", .u32(8)),
                      ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string("smollm")),
                      ("tokenizer.ggml.tokens", .strings(BPETokenizer.bytes().tokens)),
                      ("tokenizer.ggml.token_type", .i32s(Array(repeating: 1, count: 256) + [3, 3, 3])),
                      ("tokenizer.ggml.merges", .strings([])),
                      ("tokenizer.ggml.bos_token_id", .u32(256)), ("tokenizer.ggml.eos_token_id", .u32(258))]
        var expected: [String: [Float]] = [:]
        for spec in model.layout.tensors {
            let name = Checkpoint.ggufTensorNameForTests(spec.name)
            let p = model.params.pointer + spec.offset
            let dims = Array(spec.shape.reversed())
            var values = Array(UnsafeBufferPointer(start: p, count: spec.count))
            if name == "token_embd.weight" {
                // Q8_0 with d = 0.5 (0x3800): value = q * 0.5, q in -16...15
                var data = Data()
                values = []
                for blk in 0..<(spec.count / 32) {
                    data += half(0x3800)
                    for j in 0..<32 { let q = Int8((blk * 7 + j) % 32 - 16); data.append(UInt8(bitPattern: q)); values.append(Float(q) * 0.5) }
                }
                b.tensors.append((name, dims, 8, data))
            } else if name == "blk.0.ffn_up.weight" {
                // Q4_0 with d = 0.25: value = (nibble - 8) * 0.25; low nibbles fill the first 16 slots.
                var data = Data()
                values = []
                for blk in 0..<(spec.count / 32) {
                    data += half(0x3400)
                    var lo = [Float](), hi = [Float]()
                    for j in 0..<16 {
                        let a = UInt8((blk + j) % 16), c = UInt8((blk * 3 + j) % 16)
                        data.append(a | c << 4)
                        lo.append(Float(Int(a) - 8) * 0.25); hi.append(Float(Int(c) - 8) * 0.25)
                    }
                    values += lo + hi
                }
                b.tensors.append((name, dims, 2, data))
            } else if name == "blk.1.ffn_gate.weight" {
                // Q4_1 with d = 0.125, m = -1: value = nibble * 0.125 - 1.
                var data = Data()
                values = []
                for blk in 0..<(spec.count / 32) {
                    data += half(0x3000) + half(0xBC00)
                    var lo = [Float](), hi = [Float]()
                    for j in 0..<16 {
                        let a = UInt8((blk * 5 + j) % 16), c = UInt8((blk + 2 * j) % 16)
                        data.append(a | c << 4)
                        lo.append(Float(a) * 0.125 - 1); hi.append(Float(c) * 0.125 - 1)
                    }
                    values += lo + hi
                }
                b.tensors.append((name, dims, 3, data))
            } else if name == "blk.1.ffn_down.weight" {
                // F16 of values rounded to halves exactly representable: k/64 for small k.
                var data = Data()
                values = (0..<spec.count).map { Float(($0 % 17) - 8) / 64 }
                for v in values { data += GGUFBuilder.le(Float16(v).bitPattern) }
                b.tensors.append((name, dims, 1, data))
            } else if name.hasSuffix("attn_q.weight") || name.hasSuffix("attn_k.weight") {
                let heads = name.hasSuffix("attn_q.weight") ? c.numHeads : c.numKVHeads
                let rows = spec.shape[0], cols = spec.shape[1], hd = rows / heads
                var permuted = values
                for h in 0..<heads { for i in 0..<(hd / 2) { for j in 0..<2 {
                    let ggufRow = h * hd + 2 * i + j, hfRow = h * hd + j * (hd / 2) + i
                    for col in 0..<cols { permuted[ggufRow * cols + col] = values[hfRow * cols + col] }
                } } }
                b.tensors.append((name, dims, 0, GGUFBuilder.f32(permuted)))
            } else {
                b.tensors.append((name, dims, 0, GGUFBuilder.f32(values)))
            }
            expected[spec.name] = values
        }
        return (b.build(), model, expected)
    }

    @Test func dequantisesEveryTypeAndUnpermutesQK() throws {
        let (data, _, expected) = GGUFTests.microGGUF()
        let url = Paths.temporaryDirectory("gguf-ok").appendingPathComponent("m.gguf")
        try data.write(to: url)
        let loaded = try Checkpoint.load(path: url.path)
        #expect(loaded.model.config.tieWordEmbeddings && loaded.model.config.numKVHeads == 2)
        for spec in loaded.model.layout.tensors {
            let got = Array(UnsafeBufferPointer(start: loaded.model.params.pointer + spec.offset, count: spec.count))
            #expect(got == expected[spec.name]!, "\(spec.name)")
        }
        let t = try #require(loaded.tokenizer)
        #expect(t.bosTokenId == 256 && t.eosTokenId == 258 && t.isSpecial(257))
        #expect(t.decode(t.encode("a1<|im_start|>")) == "a1<|im_start|>")
    }

    @Test func truncatedAndCorruptGGUFGiveErrors() throws {
        let (data, _, _) = GGUFTests.microGGUF()
        let url = Paths.temporaryDirectory("gguf-bad").appendingPathComponent("m.gguf")
        func attempt(_ d: Data) -> String {
            try? d.write(to: url)
            do { _ = try Checkpoint.load(path: url.path); return "loaded" } catch { return "\(error)" }
        }
        for cut in [3, 20, 200, data.count / 2, data.count - 1] {
            let m = attempt(data.prefix(cut))
            #expect(m.contains(url.path) && m != "loaded", "cut \(cut): \(m)")
        }
        // Flip: magic, version, the tensor count's high byte, a string length's high byte.
        for (at, mask) in [(0, UInt8(1)), (4, 2), (15, 0x10), (31, 0x40)] as [(Int, UInt8)] {
            var d = data
            d[at] ^= mask
            let m = attempt(d)
            #expect(m.contains(url.path) && m != "loaded", "flip \(at): \(m)")
        }
        #expect(attempt(data) == "loaded")
    }
}
