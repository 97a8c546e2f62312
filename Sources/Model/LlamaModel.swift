import Kernels

/// A Llama decoder: its configuration, its parameters in one flat buffer and the RoPE table.
///
/// Weights are in Hugging Face layout (Linear weights [out, in], RoPE in the half-split layout); GGUF
/// loading un-permutes llama.cpp's rows so the same forward serves both.
public final class LlamaModel: @unchecked Sendable {
    public let config: LlamaConfig
    public let layout: ParameterLayout
    public let params: FloatBuffer
    public let rope: RoPETable
    public let ropeLayout: RoPELayout
    /// The matrices in their GGUF blocks, for a model loaded with `precision: .quantized` (frozen: inference
    /// only). Its `params` then hold the norms and biases; the matrices' places there stay zero and untouched.
    public internal(set) var quantized: QuantizedTensors?
    /// LoRA adapters: when attached the forward adds them (while `enabled`), they are the trainable
    /// parameters, and the base weights in `params` are frozen.
    public var adapters: LoRAAdapters?
    /// The file or directory the model was read from (absolute), if any: new adapters name it as their base.
    public var origin: String?

    public init(config: LlamaConfig, params: FloatBuffer? = nil, ropeLayout: RoPELayout = .halfSplit) {
        self.config = config
        layout = ParameterLayout(config: config)
        if let params { precondition(params.count == layout.count, "parameter buffer does not match the layout") }
        self.params = params ?? FloatBuffer(count: layout.count)
        rope = RoPETable(headDim: config.headDim, maxPositions: config.maxPositions, theta: config.ropeTheta, scaling: config.ropeScaling)
        self.ropeLayout = ropeLayout
    }

    /// transformers' default initialisation: N(0, std) for every matrix, ones for norm gains, zeros for biases.
    public static func randomlyInitialised(config: LlamaConfig, seed: UInt64, std: Float = 0.02) -> LlamaModel {
        let model = LlamaModel(config: config)
        var rng = RandomStream(seed: seed)
        for spec in model.layout.tensors {
            let p = model.params.pointer + spec.offset
            if spec.shape.count == 1 {
                p.update(repeating: spec.name.hasSuffix(".bias") ? 0 : 1, count: spec.count)
            } else {
                for i in 0..<spec.count { p[i] = Float(rng.normal()) * std }
            }
        }
        return model
    }

    public var parameterCount: Int { layout.count }
    /// The parameters training updates: the adapters when attached, else all of them.
    public var trainable: FloatBuffer { adapters?.params ?? params }
    /// AdamW's spans over `trainable`.
    public var trainableSpans: [AdamW.Span] { adapters?.layout.optimizerSpans ?? layout.optimizerSpans }

    /// Attaches freshly initialised adapters (B zero: the function is unchanged) unless adapters of the same
    /// configuration are attached already (a model read from an adapter directory), which then stay.
    public func attach(_ lora: LoRAConfig, seed: UInt64) throws {
        if let a = adapters {
            guard a.config == lora else {
                throw ModelError("the model carries LoRA adapters of rank \(a.config.rank), alpha \(a.config.alpha) on \(a.config.targets.map(\.shortName).joined(separator: ",")); the training asks for rank \(lora.rank), alpha \(lora.alpha) on \(lora.targets.map(\.shortName).joined(separator: ","))")
            }
            return
        }
        guard quantized == nil else { throw ModelError("LoRA adapters need the base in float32, not a quantized model") }
        adapters = LoRAAdapters(model: config, config: lora, seed: seed)
        adapters!.base = origin
    }

    /// A copy with the adapters merged into the base weights (W + scale B A) and none attached: a plain
    /// model whose forward equals this one's with adapters on, up to rounding.
    public func merged() -> LlamaModel {
        let copy = LlamaModel(config: config, ropeLayout: ropeLayout)
        copy.params.copy(from: params)
        guard let a = adapters else { return copy }
        for l in 0..<config.numLayers {
            let w = layout.layer(l, in: copy.params)
            for (site, p) in [(LoRALayout.Site.qkv, w.qkv), (.o, w.o), (.gateUp, w.gateUp), (.down, w.down)] { a.merge(layer: l, site: site, into: p) }
        }
        return copy
    }

    /// A hash of the parameter bits (FNV-style over 64-bit words): equal models hash equal, and any
    /// changed bit almost surely changes it.
    public func checksum() -> UInt64 {
        var h: UInt64 = 0xcbf29ce484222325
        let words = layout.count / 2
        let p = UnsafeRawPointer(params.pointer)
        for i in 0..<words { h = (h ^ p.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) &* 0x100000001b3 }
        if layout.count % 2 == 1 { h = (h ^ UInt64(params.pointer[layout.count - 1].bitPattern)) &* 0x100000001b3 }
        if let a = adapters {
            for i in 0..<a.params.count { h = (h ^ UInt64(a.params.pointer[i].bitPattern)) &* 0x100000001b3 }
        }
        return h
    }
}
