import Foundation
import Kernels
import Tokenizer

/// The shape and hyper-parameters of a Llama-family decoder, read from and written to Hugging Face
/// `config.json` (transformers 4.x and 5.x spellings). Anything the model cannot honour is refused.
public struct LlamaConfig: Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var numKVHeads: Int
    public var headDim: Int
    public var maxPositions: Int
    public var ropeTheta: Float
    public var rmsNormEps: Float
    public var tieWordEmbeddings: Bool
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]
    public var padTokenId: Int?
    /// The dtype the checkpoint was saved in; computation is always float32.
    public var dtype: String
    /// The architecture: the Llama block, with q/k/v biases (Qwen2) or a per-head q/k RMSNorm (Qwen3).
    public var family: Family = .llama
    /// Llama 3.x RoPE frequency scaling (`rope_type: llama3`), or none.
    public var ropeScaling: RoPEScaling?

    public enum Family: String, Sendable, CaseIterable {
        case llama, qwen2, qwen3
        var architecture: String { ["llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"][rawValue]! }
    }
    /// Biases on the q, k and v projections (Qwen2; not on o).
    public var qkvBias: Bool { family == .qwen2 }
    /// An RMSNorm over each head's q and k before RoPE, with weights of size head_dim (Qwen3).
    public var qkNorm: Bool { family == .qwen3 }

    public init(vocabSize: Int, hiddenSize: Int, intermediateSize: Int, numLayers: Int, numHeads: Int,
                numKVHeads: Int? = nil, headDim: Int? = nil, maxPositions: Int = 2048, ropeTheta: Float = 10000,
                rmsNormEps: Float = 1e-5, tieWordEmbeddings: Bool = true, bosTokenId: Int? = nil,
                eosTokenIds: [Int] = [], padTokenId: Int? = nil, dtype: String = "float32") {
        self.vocabSize = vocabSize; self.hiddenSize = hiddenSize; self.intermediateSize = intermediateSize
        self.numLayers = numLayers; self.numHeads = numHeads; self.numKVHeads = numKVHeads ?? numHeads
        self.headDim = headDim ?? hiddenSize / max(numHeads, 1); self.maxPositions = maxPositions
        self.ropeTheta = ropeTheta; self.rmsNormEps = rmsNormEps; self.tieWordEmbeddings = tieWordEmbeddings
        self.bosTokenId = bosTokenId; self.eosTokenIds = eosTokenIds; self.padTokenId = padTokenId
        self.dtype = dtype
    }

    public var qDim: Int { numHeads * headDim }
    public var kvDim: Int { numKVHeads * headDim }
    /// Width of the fused q|k|v projection output.
    public var qkvDim: Int { qDim + 2 * kvDim }

    /// Named shapes for models trained from scratch. `nano` and `smol` are the benchmark shapes of
    /// ../shared/anchors; `micro` is for tests; `mini` and `tiny` for demos.
    public static func named(_ name: String, vocabSize: Int? = nil) -> LlamaConfig? {
        switch name {
        case "micro":
            return LlamaConfig(vocabSize: vocabSize ?? 64, hiddenSize: 32, intermediateSize: 48, numLayers: 2,
                               numHeads: 4, numKVHeads: 2, maxPositions: 128)
        case "mini":
            return LlamaConfig(vocabSize: vocabSize ?? 259, hiddenSize: 64, intermediateSize: 176, numLayers: 3,
                               numHeads: 4, numKVHeads: 2, maxPositions: 256)
        case "tiny":
            return LlamaConfig(vocabSize: vocabSize ?? 259, hiddenSize: 128, intermediateSize: 352, numLayers: 4,
                               numHeads: 4, numKVHeads: 2, maxPositions: 512)
        case "nano":
            return LlamaConfig(vocabSize: vocabSize ?? 512, hiddenSize: 256, intermediateSize: 688, numLayers: 4,
                               numHeads: 4, numKVHeads: 4, maxPositions: 512)
        case "smol":
            return LlamaConfig(vocabSize: vocabSize ?? 49152, hiddenSize: 576, intermediateSize: 1536, numLayers: 30,
                               numHeads: 9, numKVHeads: 3, maxPositions: 2048, ropeTheta: 100000)
        default:
            return nil
        }
    }
    public static let shapeNames = ["micro", "mini", "tiny", "nano", "smol"]

    /// Checks the combination; `file` names the source in the message.
    public func validate(file: String = "config") throws {
        func require(_ ok: Bool, _ key: String, _ message: String) throws {
            if !ok { throw ModelError.config(file, key: key, message) }
        }
        try require(vocabSize > 0, "vocab_size", "must be positive, got \(vocabSize)")
        try require(hiddenSize > 0, "hidden_size", "must be positive, got \(hiddenSize)")
        try require(intermediateSize > 0, "intermediate_size", "must be positive, got \(intermediateSize)")
        try require(numLayers > 0, "num_hidden_layers", "must be positive, got \(numLayers)")
        try require(numHeads > 0, "num_attention_heads", "must be positive, got \(numHeads)")
        try require(numKVHeads > 0 && numHeads % numKVHeads == 0, "num_key_value_heads",
                    "must divide num_attention_heads (\(numHeads)), got \(numKVHeads)")
        try require(headDim > 0 && headDim % 2 == 0, "head_dim", "must be a positive even number, got \(headDim)")
        try require(maxPositions > 0, "max_position_embeddings", "must be positive, got \(maxPositions)")
        try require(ropeTheta > 0 && ropeTheta.isFinite, "rope_theta", "must be positive and finite, got \(ropeTheta)")
        try require(rmsNormEps > 0 && rmsNormEps.isFinite, "rms_norm_eps", "must be positive and finite, got \(rmsNormEps)")
        if let s = ropeScaling {
            for (key, v) in [("factor", s.factor), ("low_freq_factor", s.lowFreqFactor), ("high_freq_factor", s.highFreqFactor)] {
                try require(v > 0 && v.isFinite, "rope_scaling.\(key)", "must be positive and finite, got \(v)")
            }
            try require(s.highFreqFactor > s.lowFreqFactor, "rope_scaling.high_freq_factor",
                        "must be larger than low_freq_factor (\(s.lowFreqFactor)), got \(s.highFreqFactor)")
            try require(s.originalMaxPositions > 0, "rope_scaling.original_max_position_embeddings", "must be positive, got \(s.originalMaxPositions)")
        }
        // Sizes that allocate: within what any model of this kind has, and, together, within this machine's
        // memory, checked before anything is allocated (a crafted config.json must not crash the process).
        for (key, value, limit) in [("vocab_size", vocabSize, 1 << 22), ("hidden_size", hiddenSize, 1 << 16), ("intermediate_size", intermediateSize, 1 << 18),
                                    ("num_hidden_layers", numLayers, 1 << 10), ("num_attention_heads", numHeads, 1 << 10),
                                    ("head_dim", headDim, 1 << 12), ("max_position_embeddings", maxPositions, 1 << 24)] {
            try require(value <= limit, key, "\(value) is larger than any supported model's (at most \(limit))")
        }
        let q = Double(numHeads * headDim), kv = Double(numKVHeads * headDim), h = Double(hiddenSize)
        let perLayer = h * (q + 2 * kv) + q * h + 3 * h * Double(intermediateSize)
        let parameters = Double(numLayers) * perLayer + Double(vocabSize) * h * (tieWordEmbeddings ? 1 : 2)
        let memory = Double(ProcessInfo.processInfo.physicalMemory)
        // 4 bits a weight: a frozen model may stay in its quantized blocks.
        try require(parameters / 2 <= memory, "hidden_size",
                    String(format: "the model (%.3g parameters) would take %.1f GB even at 4 bits a weight, more than this machine's %.1f GB of memory",
                           parameters, parameters / 2e9, memory / 1e9))
        for id in eosTokenIds { try require(id >= 0 && id < vocabSize, "eos_token_id", "\(id) is outside the vocabulary") }
        if let b = bosTokenId { try require(b >= 0 && b < vocabSize, "bos_token_id", "\(b) is outside the vocabulary") }
    }
}

// MARK: - config.json

extension LlamaConfig {
    /// What `config.json` may ask for, for errors.
    static let supported = "model_type llama, qwen2 or qwen3; silu; RoPE default or llama3; full attention (no sliding window); no biases but Qwen2's q/k/v"

    /// Keys that carry no meaning for a float32 Llama forward/backward and are accepted as they are.
    static let inertKeys: Set<String> = [
        "architectures", "initializer_range", "use_cache", "transformers_version", "_name_or_path",
        "output_attentions", "output_hidden_states", "return_dict", "is_encoder_decoder", "torchscript",
        "pruned_heads", "chunk_size_feed_forward", "problem_type", "id2label", "label2id", "tokenizer_class",
        "prefix", "task_specific_params", "_attn_implementation_autoset", "model_type", "hidden_act",
        "attention_bias", "mlp_bias", "attention_dropout", "pretraining_tp", "rope_scaling", "rope_parameters",
        "rope_theta", "dtype", "torch_dtype", "vocab_size", "hidden_size", "intermediate_size",
        "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "max_position_embeddings",
        "rms_norm_eps", "tie_word_embeddings", "bos_token_id", "eos_token_id", "pad_token_id",
        "tie_encoder_decoder", "sep_token_id", "decoder_start_token_id", "use_sliding_window", "sliding_window",
        "max_window_layers", "layer_types",
    ]

    /// Parses `config.json`. Unknown keys are returned in `unknownKeys` for the caller to report.
    public static func parse(_ data: Data, file: String) throws -> (config: LlamaConfig, unknownKeys: [String]) {
        guard let json = try JSONValue.parse(data, file: file).object else {
            throw ModelError.format(file, "expected a JSON object")
        }
        func value(_ key: String, in dict: [String: JSONValue]? = nil) -> JSONValue? {
            guard let v = (dict ?? json)[key], !v.isNull else { return nil }
            return v
        }
        func int(_ key: String) throws -> Int? {
            guard let v = value(key) else { return nil }
            guard let i = v.int else { throw ModelError.config(file, key: key, "expected an integer, got \(v.summary)") }
            return i
        }
        func required(_ key: String) throws -> Int {
            guard let v = try int(key) else { throw ModelError.config(file, key: key, "is required") }
            return v
        }
        func number(_ key: String, in dict: [String: JSONValue]? = nil) throws -> Double? {
            guard let v = value(key, in: dict) else { return nil }
            guard let d = v.double else { throw ModelError.config(file, key: key, "expected a number, got \(v.summary)") }
            return d
        }
        func bool(_ key: String) throws -> Bool? {
            guard let v = value(key) else { return nil }
            guard let b = v.bool else { throw ModelError.config(file, key: key, "expected true or false, got \(v.summary)") }
            return b
        }
        func string(_ key: String, in dict: [String: JSONValue]? = nil) throws -> String? {
            guard let v = value(key, in: dict) else { return nil }
            guard let s = v.string else { throw ModelError.config(file, key: key, "expected a string, got \(v.summary)") }
            return s
        }
        func refuse(_ key: String, _ message: String) -> ModelError {
            ModelError.config(file, key: key, "\(message); supported: \(supported)")
        }

        // Features that change the computation and are not implemented: refused, never ignored.
        let modelType = try string("model_type") ?? "llama"
        guard let family = Family(rawValue: modelType) else { throw refuse("model_type", "'\(modelType)' is not supported") }
        if let act = try string("hidden_act"), act != "silu" { throw refuse("hidden_act", "'\(act)' is not supported (silu expected)") }
        if try bool("attention_bias") == true { throw refuse("attention_bias", "attention biases (on every projection) are not supported") }
        if try bool("mlp_bias") == true { throw refuse("mlp_bias", "MLP biases are not supported") }
        if let d = try number("attention_dropout"), d != 0 { throw refuse("attention_dropout", "dropout \(d) is not supported") }
        if let tp = try int("pretraining_tp"), tp != 1 { throw refuse("pretraining_tp", "\(tp) is not supported (1 expected)") }
        for key in ["logits_soft_cap", "attn_logit_softcapping", "final_logit_softcapping", "no_rope_layers", "num_experts", "num_local_experts"] {
            if let v = value(key), v != .bool(false), v != .int(0) { throw refuse(key, "is not supported") }
        }
        if try bool("use_sliding_window") == true { throw refuse("use_sliding_window", "sliding-window attention is not supported") }
        if family == .llama, value("sliding_window") != nil { throw refuse("sliding_window", "sliding-window attention is not supported") }
        if let types = value("layer_types") {
            guard let list = types.array, list.allSatisfy({ $0.string == "full_attention" }) else {
                throw refuse("layer_types", "only full_attention layers are supported")
            }
        }
        // RoPE: the 4.x spelling (rope_theta, rope_scaling) and the 5.x one (rope_parameters).
        var theta = try number("rope_theta") ?? 10000
        var scaling: RoPEScaling?
        for key in ["rope_scaling", "rope_parameters"] {
            guard let rp = value(key) else { continue }
            guard let params = rp.object else { throw ModelError.config(file, key: key, "expected an object, got \(rp.summary)") }
            let type = try string("rope_type", in: params) ?? string("type", in: params) ?? "default"
            var known = ["rope_type", "type", "rope_theta"]
            switch type {
            case "default": break
            case "llama3":
                func need(_ k: String) throws -> Double {
                    guard let v = try number(k, in: params) else { throw ModelError.config(file, key: "\(key).\(k)", "is required for rope_type llama3") }
                    return v
                }
                let factor = try need("factor"), low = try need("low_freq_factor"), high = try need("high_freq_factor")
                let original = try need("original_max_position_embeddings")
                guard original == original.rounded(), original >= 1, original <= Double(1 << 24) else {
                    throw ModelError.config(file, key: "\(key).original_max_position_embeddings", "expected a positive integer of at most \(1 << 24), got \(original)")
                }
                scaling = RoPEScaling(factor: Float(factor), lowFreqFactor: Float(low), highFreqFactor: Float(high), originalMaxPositions: Int(original))
                known += ["factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"]
            default: throw refuse("\(key).rope_type", "'\(type)' is not supported (default or llama3)")
            }
            for k in params.keys.sorted() where !known.contains(k) {
                if let v = params[k], !v.isNull { throw refuse("\(key).\(k)", "is not supported") }
            }
            if let t = try number("rope_theta", in: params) { theta = t }
        }
        let dtype = try string("dtype") ?? string("torch_dtype") ?? "float32"
        if !["float32", "float16", "bfloat16"].contains(dtype) {
            throw ModelError.config(file, key: "dtype", "'\(dtype)' is not one of float32, float16, bfloat16")
        }
        var eos: [Int] = []
        if let v = value("eos_token_id") {
            if let list = v.array {
                eos = try list.map { guard let i = $0.int else { throw ModelError.config(file, key: "eos_token_id", "expected integers") }; return i }
            } else if let e = try int("eos_token_id") { eos = [e] }
        }
        let heads = try required("num_attention_heads")
        let hidden = try required("hidden_size")
        var config = LlamaConfig(
            vocabSize: try required("vocab_size"), hiddenSize: hidden,
            intermediateSize: try required("intermediate_size"), numLayers: try required("num_hidden_layers"),
            numHeads: heads, numKVHeads: try int("num_key_value_heads") ?? heads,
            headDim: try int("head_dim") ?? (heads > 0 ? hidden / heads : 0),
            maxPositions: try int("max_position_embeddings") ?? 2048, ropeTheta: Float(theta),
            rmsNormEps: Float(try number("rms_norm_eps") ?? 1e-6),
            tieWordEmbeddings: try bool("tie_word_embeddings") ?? false, bosTokenId: try int("bos_token_id"),
            eosTokenIds: eos, padTokenId: try int("pad_token_id"), dtype: dtype)
        config.family = family
        config.ropeScaling = scaling
        try config.validate(file: file)
        let unknown = json.keys.filter { !inertKeys.contains($0) }.sorted()
        return (config, unknown)
    }

    /// `config.json` in the transformers 5.x layout, with the 4.x `rope_theta` / `torch_dtype` beside it so
    /// that either version reads it.
    public func jsonData() -> Data {
        var rope: [String: Any] = ["rope_type": "default", "rope_theta": Double(ropeTheta)]
        if let r = ropeScaling {
            rope = ["rope_type": "llama3", "rope_theta": Double(ropeTheta), "factor": Double(r.factor), "low_freq_factor": Double(r.lowFreqFactor),
                    "high_freq_factor": Double(r.highFreqFactor), "original_max_position_embeddings": r.originalMaxPositions]
        }
        var json: [String: Any] = [
            "architectures": [family.architecture], "model_type": family.rawValue, "hidden_act": "silu",
            "vocab_size": vocabSize, "hidden_size": hiddenSize, "intermediate_size": intermediateSize,
            "num_hidden_layers": numLayers, "num_attention_heads": numHeads, "num_key_value_heads": numKVHeads,
            "head_dim": headDim, "max_position_embeddings": maxPositions, "rms_norm_eps": Double(rmsNormEps),
            "rope_parameters": rope, "rope_theta": Double(ropeTheta), "tie_word_embeddings": tieWordEmbeddings,
            "attention_dropout": 0.0, "dtype": "float32", "torch_dtype": "float32", "use_cache": true, "initializer_range": 0.02,
        ]
        if ropeScaling != nil { json["rope_scaling"] = rope }
        switch family {
        case .llama: json["attention_bias"] = false; json["mlp_bias"] = false; json["pretraining_tp"] = 1
        case .qwen2: json["use_sliding_window"] = false
        case .qwen3: json["attention_bias"] = false; json["use_sliding_window"] = false
        }
        if let b = bosTokenId { json["bos_token_id"] = b }
        if eosTokenIds.count == 1 { json["eos_token_id"] = eosTokenIds[0] } else if !eosTokenIds.isEmpty { json["eos_token_id"] = eosTokenIds }
        if let p = padTokenId { json["pad_token_id"] = p }
        return (try? JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    }
}
