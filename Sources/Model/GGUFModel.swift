import Foundation
import Kernels
import Tokenizer

extension Checkpoint {
    /// Loads a llama.cpp GGUF model (architecture llama, qwen2 or qwen3): configuration from `<arch>.*`
    /// metadata, tensors dequantised to float32 and mapped to Hugging Face names and layout (llama's Q/K rows
    /// un-permuted), tokenizer from `tokenizer.ggml.*`.
    ///
    /// With `precision: .quantized` the matrices stay in their blocks (`LlamaModel.quantized`, for inference
    /// only) when every one of them can (`QuantizedTensors.canHold`); otherwise the model loads in float32
    /// and a warning says why.
    public static func loadGGUF(url: URL, precision: Precision = .float32) throws -> LoadedModel {
        let file = try GGUFFile(url: url)
        let path = file.path
        let config = try ggufConfig(file)
        let layout = ParameterLayout(config: config)
        let blocks = precision == .quantized && QuantizedTensors.canHold(file, layout: layout)
        var warnings: [String] = []
        if precision == .quantized && !blocks {
            warnings.append("\(path): some matrices are not in a block type the quantized path reads (\(GGUFFile.TensorType.names), rows a multiple of 32); loaded in float32")
        }
        let model = blocks ? LlamaModel(config: config, params: FloatBuffer(unbackedCount: layout.count)) : LlamaModel(config: config)
        var remaining = Set(file.tensorOrder)
        for spec in model.layout.tensors {
            let ggufName = ggufTensorName(spec.name)
            guard let t = file.tensors[ggufName] else { throw ModelError.format(path, "missing tensor '\(ggufName)' (for \(spec.name))") }
            guard Array(t.dims.reversed()) == spec.shape else {
                throw ModelError.format(path, "tensor '\(ggufName)' has dimensions \(t.dims) (GGUF order), expected \(Array(spec.shape.reversed()))")
            }
            remaining.remove(ggufName)
            if blocks && spec.shape.count == 2 { continue }
            let dst = model.params.pointer + spec.offset
            try file.read(ggufName, into: dst)
            // llama.cpp permutes Q/K rows for the llama architecture only.
            if config.family == .llama && ggufName.hasSuffix("attn_q.weight") {
                unpermuteRows(dst, rows: spec.shape[0], cols: spec.shape[1], heads: config.numHeads)
            } else if config.family == .llama && ggufName.hasSuffix("attn_k.weight") {
                unpermuteRows(dst, rows: spec.shape[0], cols: spec.shape[1], heads: config.numKVHeads)
            }
            try checkFinite(dst, count: spec.count, name: ggufName, file: path)
        }
        if let extra = remaining.sorted().first {
            throw ModelError.format(path, "unexpected tensor '\(extra)'\(remaining.count > 1 ? " and \(remaining.count - 1) more" : "")")
        }
        let tokenizer = try ggufTokenizer(file)
        if let t = tokenizer, t.vocabularySize > config.vocabSize {
            throw ModelError.format(path, "the tokenizer has \(t.vocabularySize) tokens but the embedding has \(config.vocabSize) rows")
        }
        if blocks { model.quantized = try QuantizedTensors(file: file, config: config) }
        return LoadedModel(model: model, tokenizer: tokenizer, source: path, warnings: warnings)
    }

    static func ggufTensorName(_ hf: String) -> String {
        switch hf {
        case "model.embed_tokens.weight": return "token_embd.weight"
        case "model.norm.weight": return "output_norm.weight"
        case "lm_head.weight": return "output.weight"
        default: break
        }
        let parts = hf.split(separator: ".")  // model.layers.N.<module>.<proj>.weight
        let l = parts[2]
        let rest = parts[3...].joined(separator: ".")
        let map = ["input_layernorm.weight": "attn_norm.weight", "self_attn.q_proj.weight": "attn_q.weight",
                   "self_attn.k_proj.weight": "attn_k.weight", "self_attn.v_proj.weight": "attn_v.weight",
                   "self_attn.o_proj.weight": "attn_output.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
                   "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
                   "mlp.down_proj.weight": "ffn_down.weight", "self_attn.q_proj.bias": "attn_q.bias",
                   "self_attn.k_proj.bias": "attn_k.bias", "self_attn.v_proj.bias": "attn_v.bias",
                   "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight"]
        return "blk.\(l).\(map[rest] ?? rest)"
    }

    /// llama.cpp's converter permutes each head's rows from the half-split RoPE layout to the interleaved
    /// one (row h*d + 2i + j holds Hugging Face row h*d + j*d/2 + i); this puts them back.
    static func unpermuteRows(_ w: UnsafeMutablePointer<Float>, rows: Int, cols: Int, heads: Int) {
        let hd = rows / heads, half = hd / 2
        let copy = UnsafeMutablePointer<Float>.allocate(capacity: rows * cols)
        defer { copy.deallocate() }
        copy.update(from: w, count: rows * cols)
        for h in 0..<heads {
            for i in 0..<half {
                for j in 0..<2 {
                    let src = h * hd + 2 * i + j, dst = h * hd + j * half + i
                    (w + dst * cols).update(from: copy + src * cols, count: cols)
                }
            }
        }
    }

    static func ggufConfig(_ file: GGUFFile) throws -> LlamaConfig {
        let md = file.metadata, path = file.path
        func fail(_ key: String, _ message: String) -> ModelError { ModelError.format(path, "metadata '\(key)': \(message)") }
        guard let arch = md["general.architecture"]?.string else { throw fail("general.architecture", "missing") }
        guard let family = LlamaConfig.Family(rawValue: arch) else {
            throw fail("general.architecture", "'\(arch)' is not supported (\(LlamaConfig.Family.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        func int(_ key: String) throws -> Int? {
            guard let v = md[arch + "." + key] else { return nil }
            guard let i = v.int else { throw fail(arch + "." + key, "expected an integer") }
            return i
        }
        func required(_ key: String) throws -> Int {
            guard let v = try int(key) else { throw fail(arch + "." + key, "missing") }
            return v
        }
        func number(_ key: String) throws -> Double? {
            guard let v = md[arch + "." + key] else { return nil }
            guard let d = v.double else { throw fail(arch + "." + key, "expected a number") }
            return d
        }
        if let s = md[arch + ".rope.scaling.type"]?.string, s != "none" { throw fail(arch + ".rope.scaling.type", "'\(s)' is not supported") }
        if let e = try int("expert_count"), e > 0 { throw fail(arch + ".expert_count", "mixture-of-experts is not supported") }
        let hidden = try required("embedding_length"), heads = try required("attention.head_count")
        let headDim = try int("attention.key_length") ?? (heads > 0 ? hidden / heads : 0)
        if let rd = try int("rope.dimension_count"), rd != headDim {
            throw fail(arch + ".rope.dimension_count", "\(rd) differs from the head dimension \(headDim) (partial RoPE is not supported)")
        }
        let vocab = try int("vocab_size") ?? md["tokenizer.ggml.tokens"]?.array?.count ?? file.tensors["token_embd.weight"]?.dims.last ?? 0
        var eos: [Int] = []
        if let e = md["tokenizer.ggml.eos_token_id"]?.int { eos.append(e) }
        if let e = md["tokenizer.ggml.eot_token_id"]?.int, !eos.contains(e) { eos.append(e) }
        var config = LlamaConfig(
            vocabSize: vocab, hiddenSize: hidden, intermediateSize: try required("feed_forward_length"),
            numLayers: try required("block_count"), numHeads: heads, numKVHeads: try int("attention.head_count_kv") ?? heads,
            headDim: headDim, maxPositions: try int("context_length") ?? 2048,
            ropeTheta: Float(try number("rope.freq_base") ?? 10000),
            rmsNormEps: Float(try number("attention.layer_norm_rms_epsilon") ?? 1e-5),
            tieWordEmbeddings: file.tensors["output.weight"] == nil,
            bosTokenId: md["tokenizer.ggml.bos_token_id"]?.int, eosTokenIds: eos,
            padTokenId: md["tokenizer.ggml.padding_token_id"]?.int, dtype: "float32")
        config.family = family
        try config.validate(file: path)
        return config
    }

    static func ggufTokenizer(_ file: GGUFFile) throws -> BPETokenizer? {
        let md = file.metadata, path = file.path
        guard let kind = md["tokenizer.ggml.model"]?.string else { return nil }
        guard kind == "gpt2" else {
            throw ModelError.format(path, "metadata 'tokenizer.ggml.model': '\(kind)' is not supported (gpt2 byte-level BPE expected)")
        }
        let pre: PreTokenization
        switch md["tokenizer.ggml.pre"]?.string ?? "default" {
        case "smollm": pre = PreTokenization(individualDigits: true, pattern: .gpt2)
        case "gpt2", "default", "gpt-2": pre = PreTokenization(pattern: .gpt2)
        case "llama-bpe", "llama3", "llama-v3": pre = PreTokenization(pattern: .llama3)
        case "qwen2": pre = PreTokenization(pattern: .qwen2)
        case let other:
            throw ModelError.format(path, "metadata 'tokenizer.ggml.pre': pre-tokenizer '\(other)' is not supported (smollm, gpt2, llama-bpe, qwen2)")
        }
        guard let tokenValues = md["tokenizer.ggml.tokens"]?.array else {
            throw ModelError.format(path, "metadata 'tokenizer.ggml.tokens': missing")
        }
        let tokens = try tokenValues.enumerated().map { i, v -> String in
            guard let s = v.string else { throw ModelError.format(path, "metadata 'tokenizer.ggml.tokens'[\(i)]: expected a string") }
            return s
        }
        let types = md["tokenizer.ggml.token_type"]?.array?.map { $0.int ?? 1 } ?? []
        guard types.isEmpty || types.count == tokens.count else {
            throw ModelError.format(path, "metadata 'tokenizer.ggml.token_type': \(types.count) entries for \(tokens.count) tokens")
        }
        var added: [AddedToken] = []
        for (i, t) in types.enumerated() where t == 3 || t == 4 {
            added.append(AddedToken(id: Int32(i), content: tokens[i], special: t == 3))
        }
        let merges = try (md["tokenizer.ggml.merges"]?.array ?? []).enumerated().map { i, v -> (String, String) in
            guard let s = v.string else { throw ModelError.format(path, "metadata 'tokenizer.ggml.merges'[\(i)]: expected a string") }
            let parts = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw ModelError.format(path, "metadata 'tokenizer.ggml.merges'[\(i)]: expected 'left right', got '\(s)'") }
            return (String(parts[0]), String(parts[1]))
        }
        let t: BPETokenizer
        do {
            t = try BPETokenizer(tokens: tokens, merges: merges, addedTokens: added, preTokenization: pre,
                                 ignoreMerges: pre.pattern == .llama3, source: path)
        } catch let e as TokenizerError { throw ModelError(e.description) }
        func id(_ key: String) -> Int32? { md[key]?.int.map(Int32.init) }
        t.bosTokenId = id("tokenizer.ggml.bos_token_id")
        t.eosTokenId = id("tokenizer.ggml.eos_token_id")
        t.padTokenId = id("tokenizer.ggml.padding_token_id")
        t.unkTokenId = id("tokenizer.ggml.unknown_token_id")
        t.addBosToken = md["tokenizer.ggml.add_bos_token"]?.bool ?? false
        t.chatTemplate = md["tokenizer.chat_template"]?.string
        return t
    }
}

extension Checkpoint {
    /// The GGUF name of a Hugging Face tensor name (exposed for tests and tools).
    public static func ggufTensorNameForTests(_ hf: String) -> String { ggufTensorName(hf) }
}
