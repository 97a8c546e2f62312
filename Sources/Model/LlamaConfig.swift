import Foundation
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
        try require(ropeTheta > 0, "rope_theta", "must be positive, got \(ropeTheta)")
        try require(rmsNormEps > 0, "rms_norm_eps", "must be positive, got \(rmsNormEps)")
        for id in eosTokenIds { try require(id >= 0 && id < vocabSize, "eos_token_id", "\(id) is outside the vocabulary") }
        if let b = bosTokenId { try require(b >= 0 && b < vocabSize, "bos_token_id", "\(b) is outside the vocabulary") }
    }
}

// MARK: - config.json

extension LlamaConfig {
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
        "tie_encoder_decoder", "sep_token_id", "decoder_start_token_id",
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
            ModelError.config(file, key: key, "\(message); only the plain Llama architecture is supported")
        }

        // Features that change the computation and are not implemented: refused, never ignored.
        if let t = try string("model_type"), t != "llama" { throw refuse("model_type", "'\(t)' is not supported") }
        if let act = try string("hidden_act"), act != "silu" { throw refuse("hidden_act", "'\(act)' is not supported (silu expected)") }
        if try bool("attention_bias") == true { throw refuse("attention_bias", "attention biases are not supported") }
        if try bool("mlp_bias") == true { throw refuse("mlp_bias", "MLP biases are not supported") }
        if let d = try number("attention_dropout"), d != 0 { throw refuse("attention_dropout", "dropout \(d) is not supported") }
        if let tp = try int("pretraining_tp"), tp != 1 { throw refuse("pretraining_tp", "\(tp) is not supported (1 expected)") }
        if value("rope_scaling") != nil { throw refuse("rope_scaling", "RoPE scaling is not supported") }
        for key in ["sliding_window", "use_sliding_window", "logits_soft_cap", "attn_logit_softcapping",
                    "final_logit_softcapping", "layer_types", "no_rope_layers"] {
            if let v = value(key), v != .bool(false) { throw refuse(key, "is not supported") }
        }
        var theta = try number("rope_theta") ?? 10000
        if let rp = value("rope_parameters") {
            guard let params = rp.object else {
                throw ModelError.config(file, key: "rope_parameters", "expected an object, got \(rp.summary)")
            }
            let type = try string("rope_type", in: params) ?? "default"
            if type != "default" { throw refuse("rope_parameters.rope_type", "'\(type)' is not supported (default expected)") }
            for key in params.keys.sorted() where !["rope_type", "rope_theta"].contains(key) {
                if let v = params[key], !v.isNull { throw refuse("rope_parameters.\(key)", "is not supported") }
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
        let config = LlamaConfig(
            vocabSize: try required("vocab_size"), hiddenSize: hidden,
            intermediateSize: try required("intermediate_size"), numLayers: try required("num_hidden_layers"),
            numHeads: heads, numKVHeads: try int("num_key_value_heads") ?? heads,
            headDim: try int("head_dim") ?? (heads > 0 ? hidden / heads : 0),
            maxPositions: try int("max_position_embeddings") ?? 2048, ropeTheta: Float(theta),
            rmsNormEps: Float(try number("rms_norm_eps") ?? 1e-6),
            tieWordEmbeddings: try bool("tie_word_embeddings") ?? false, bosTokenId: try int("bos_token_id"),
            eosTokenIds: eos, padTokenId: try int("pad_token_id"), dtype: dtype)
        try config.validate(file: file)
        let unknown = json.keys.filter { !inertKeys.contains($0) }.sorted()
        return (config, unknown)
    }

    /// `config.json` in the transformers 5.x layout, with the 4.x `rope_theta` / `torch_dtype` beside it so
    /// that either version reads it.
    public func jsonData() -> Data {
        var json: [String: Any] = [
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
            "vocab_size": vocabSize, "hidden_size": hiddenSize, "intermediate_size": intermediateSize,
            "num_hidden_layers": numLayers, "num_attention_heads": numHeads, "num_key_value_heads": numKVHeads,
            "head_dim": headDim, "max_position_embeddings": maxPositions, "rms_norm_eps": Double(rmsNormEps),
            "rope_parameters": ["rope_type": "default", "rope_theta": Double(ropeTheta)],
            "rope_theta": Double(ropeTheta), "tie_word_embeddings": tieWordEmbeddings,
            "attention_bias": false, "mlp_bias": false, "attention_dropout": 0.0, "pretraining_tp": 1,
            "dtype": "float32", "torch_dtype": "float32", "use_cache": true, "initializer_range": 0.02,
        ]
        if let b = bosTokenId { json["bos_token_id"] = b }
        if eosTokenIds.count == 1 { json["eos_token_id"] = eosTokenIds[0] } else if !eosTokenIds.isEmpty { json["eos_token_id"] = eosTokenIds }
        if let p = padTokenId { json["pad_token_id"] = p }
        return (try? JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    }
}
