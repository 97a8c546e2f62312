import Kernels

/// One tensor of the model: its Hugging Face name and shape and where it lives in the flat buffers.
public struct TensorSpec: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
    /// Weight decay applies to matrices, not to norm gains or biases.
    public var decays: Bool { shape.count == 2 }
}

/// The single table from which every view of parameters, gradients and optimizer moments is derived.
///
/// Order inside a layer keeps q|k|v and gate|up adjacent, so each pair runs as one matrix product with
/// the stacked weights ([qDim + 2 kvDim, hidden] and [2 ffn, hidden]).
public struct ParameterLayout: Sendable {
    public struct Layer: Sendable {
        public let attnNorm, qkv, o, mlpNorm, gateUp, down: Int
        /// Qwen2: the q|k|v biases, adjacent ([qDim + 2 kvDim]). Qwen3: the q and k norm gains, adjacent (2 x head_dim).
        public let qkvBias: Int?, qkNorm: Int?
    }
    public let config: LlamaConfig
    public let tensors: [TensorSpec]
    public let layers: [Layer]
    public let embed: Int
    public let finalNorm: Int
    /// Offset of the LM head: the embedding's when tied.
    public let lmHead: Int
    public let count: Int
    private let byName: [String: Int]

    public init(config c: LlamaConfig) {
        var specs: [TensorSpec] = []
        var offset = 0
        @discardableResult func add(_ name: String, _ shape: [Int]) -> Int {
            let spec = TensorSpec(name: name, shape: shape, offset: offset)
            specs.append(spec)
            offset += spec.count
            return spec.offset
        }
        embed = add("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize])
        var layers: [Layer] = []
        for l in 0..<c.numLayers {
            let p = "model.layers.\(l)."
            let attnNorm = add(p + "input_layernorm.weight", [c.hiddenSize])
            let q = add(p + "self_attn.q_proj.weight", [c.qDim, c.hiddenSize])
            add(p + "self_attn.k_proj.weight", [c.kvDim, c.hiddenSize])
            add(p + "self_attn.v_proj.weight", [c.kvDim, c.hiddenSize])
            var qkvBias: Int?, qkNorm: Int?
            if c.qkvBias {
                qkvBias = add(p + "self_attn.q_proj.bias", [c.qDim])
                add(p + "self_attn.k_proj.bias", [c.kvDim])
                add(p + "self_attn.v_proj.bias", [c.kvDim])
            }
            if c.qkNorm {
                qkNorm = add(p + "self_attn.q_norm.weight", [c.headDim])
                add(p + "self_attn.k_norm.weight", [c.headDim])
            }
            let o = add(p + "self_attn.o_proj.weight", [c.hiddenSize, c.qDim])
            let mlpNorm = add(p + "post_attention_layernorm.weight", [c.hiddenSize])
            let gate = add(p + "mlp.gate_proj.weight", [c.intermediateSize, c.hiddenSize])
            add(p + "mlp.up_proj.weight", [c.intermediateSize, c.hiddenSize])
            let down = add(p + "mlp.down_proj.weight", [c.hiddenSize, c.intermediateSize])
            layers.append(Layer(attnNorm: attnNorm, qkv: q, o: o, mlpNorm: mlpNorm, gateUp: gate, down: down, qkvBias: qkvBias, qkNorm: qkNorm))
        }
        finalNorm = add("model.norm.weight", [c.hiddenSize])
        lmHead = c.tieWordEmbeddings ? embed : add("lm_head.weight", [c.vocabSize, c.hiddenSize])
        self.config = c
        self.layers = layers
        tensors = specs
        count = offset
        byName = Dictionary(uniqueKeysWithValues: specs.enumerated().map { ($1.name, $0) })
    }

    public func spec(named name: String) -> TensorSpec? { byName[name].map { tensors[$0] } }

    /// Spans for AdamW: decay on matrices only.
    public var optimizerSpans: [AdamW.Span] {
        tensors.map { AdamW.Span(offset: $0.offset, count: $0.count, decay: $0.decays) }
    }
}

/// Pointers to one layer's tensors inside a flat buffer laid out by a `ParameterLayout`.
public struct LayerView {
    public let attnNorm, qkv, o, mlpNorm, gateUp, down: UnsafeMutablePointer<Float>
    public let qkvBias, qkNorm: UnsafeMutablePointer<Float>?
    init(_ l: ParameterLayout.Layer, _ base: UnsafeMutablePointer<Float>) {
        attnNorm = base + l.attnNorm; qkv = base + l.qkv; o = base + l.o
        mlpNorm = base + l.mlpNorm; gateUp = base + l.gateUp; down = base + l.down
        qkvBias = l.qkvBias.map { base + $0 }; qkNorm = l.qkNorm.map { base + $0 }
    }
}

extension ParameterLayout {
    public func layer(_ l: Int, in buffer: FloatBuffer) -> LayerView { LayerView(layers[l], buffer.pointer) }
    public func pointer(_ spec: TensorSpec, in buffer: FloatBuffer) -> UnsafeMutablePointer<Float> {
        buffer.pointer + spec.offset
    }
}
