import Kernels
import Model

/// Key/value caches for a fixed number of sequence slots, one `CachedAttention` layout per layer (keys in
/// blocks of 16 positions, values by position), with room for `capacity` positions rounded up to 16.
public final class KVCache: @unchecked Sendable {
    public let slots: Int
    public let capacity: Int
    let layers: Int
    let layout: CachedAttention
    let keys: FloatBuffer
    let values: FloatBuffer

    public init(config: LlamaConfig, slots: Int, capacity: Int) {
        self.slots = slots
        self.capacity = capacity
        layers = config.numLayers
        let padded = (max(capacity, 1) + CachedAttention.block - 1) / CachedAttention.block * CachedAttention.block
        layout = CachedAttention(shape: Attention.Shape(heads: config.numHeads, kvHeads: config.numKVHeads,
                                                        headDim: config.headDim, qStride: config.qkvDim,
                                                        kvStride: config.kvDim, outStride: config.qDim),
                                 capacity: padded)
        keys = FloatBuffer(count: layers * slots * layout.slotStride, hugePages: false)
        values = FloatBuffer(count: layers * slots * layout.slotStride, hugePages: false)
    }

    var layerStride: Int { slots * layout.slotStride }

    /// Copies positions 0..<count of slot `from` into slot `to` (every layer): a shared prompt prefix.
    func copyPrefix(from: Int, to: Int, count: Int) {
        for l in 0..<layers {
            layout.copyPrefix(keys: keys.pointer + l * layerStride, values: values.pointer + l * layerStride,
                              from: from, to: to, count: count)
        }
    }
}

/// One of the inference forward's weight matrices: float32 packed for `PackedGemm`, or a frozen model's GGUF
/// blocks (`QuantizedMatrix`).
public enum InferenceMatrix: Sendable {
    case packed(PackedMatrix)
    case blocks(QuantizedMatrix)

    /// out[m, n] (+)= sum_k x[m, k] * w[n, k]; a row's result never depends on the rows beside it.
    @inline(__always)
    func multiply(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, rows: Int, accumulate: Bool = false) {
        switch self {
        case .packed(let w): PackedGemm.multiply(out: out, x: x, w: w, rows: rows, accumulate: accumulate)
        case .blocks(let w): w.multiply(out: out, x: x, rows: rows, accumulate: accumulate)
        }
    }
}

/// The model's matrices as the inference forward reads them: packed float32 copies (made once per
/// generator), or a quantized model's blocks as loaded.
public final class PackedWeights: @unchecked Sendable {
    public struct Layer: Sendable { public let qkv, o, gateUp, down: InferenceMatrix }
    public let layers: [Layer]
    public let lmHead: InferenceMatrix
    /// The embedding rows' source when they are not in the model's parameters.
    let embedBlocks: QuantizedMatrix?

    public init(_ model: LlamaModel) {
        let c = model.config
        if let q = model.quantized {
            layers = q.layers.map { Layer(qkv: .blocks($0.qkv), o: .blocks($0.o), gateUp: .blocks($0.gateUp), down: .blocks($0.down)) }
            lmHead = .blocks(q.lmHead)
            embedBlocks = q.embed
            return
        }
        // LoRA adapters are merged into the packed copies (W + scale B A, one matrix at a time through a
        // scratch copy): decoding then costs what the base's does, where x A^T B^T per row would add
        // eight thin products per layer and token.
        let adapters = model.adapters.flatMap { $0.enabled ? $0 : nil }
        let scratch = Scratch()
        func pack(_ w: UnsafeMutablePointer<Float>, _ l: Int, _ site: LoRALayout.Site, outDim: Int, inDim: Int) -> InferenceMatrix {
            guard let adapters else { return .packed(PackedMatrix(w, outDim: outDim, inDim: inDim)) }
            let copy = scratch.ensure(outDim * inDim)
            copy.update(from: w, count: outDim * inDim)
            adapters.merge(layer: l, site: site, into: copy)
            return .packed(PackedMatrix(copy, outDim: outDim, inDim: inDim))
        }
        layers = (0..<c.numLayers).map { l in
            let w = model.layout.layer(l, in: model.params)
            return Layer(qkv: pack(w.qkv, l, .qkv, outDim: c.qkvDim, inDim: c.hiddenSize),
                         o: pack(w.o, l, .o, outDim: c.hiddenSize, inDim: c.qDim),
                         gateUp: pack(w.gateUp, l, .gateUp, outDim: 2 * c.intermediateSize, inDim: c.hiddenSize),
                         down: pack(w.down, l, .down, outDim: c.hiddenSize, inDim: c.intermediateSize))
        }
        lmHead = .packed(PackedMatrix(model.params.pointer + model.layout.lmHead, outDim: c.vocabSize, inDim: c.hiddenSize))
        embedBlocks = nil
    }

    /// out[r] = the embedding row of ids[r].
    func embed(out: UnsafeMutablePointer<Float>, ids: UnsafePointer<Int32>, rows: Int, model: LlamaModel) {
        let C = model.config.hiddenSize
        guard let blocks = embedBlocks else {
            Embedding.forward(out: out, ids: ids, table: model.params.pointer + model.layout.embed, rows: rows, dim: C)
            return
        }
        Parallel.range(rows, grain: 32) { lo, hi in
            for r in lo..<hi { blocks.row(Int(ids[r]), into: out + r * C) }
        }
    }
}

/// One forward pass over rows that each belong to a cached sequence: row r feeds token `tokens[r]` at
/// position `positions[r]` of slot `slots[r]`. Prefill (many rows of one slot) and decoding (one row
/// per slot) are the same call, and mix freely. Every row is computed independently of the others, in
/// a fixed order (PackedGemm, per-row attention), so results do not depend on batch composition.
public final class BatchForward: @unchecked Sendable {
    public let model: LlamaModel
    public let cache: KVCache
    let weights: PackedWeights
    let x = Scratch(), xn = Scratch(), qkv = Scratch(), att = Scratch(), gu = Scratch(), h = Scratch()
    let scores = Scratch(), lastNorm = Scratch()
    public let logits = Scratch()

    public init(model: LlamaModel, cache: KVCache, weights: PackedWeights? = nil) {
        self.model = model
        self.cache = cache
        self.weights = weights ?? PackedWeights(model)
    }

    /// Runs the rows and returns logits for the rows listed in `logitRows` (in that order, vocab floats each).
    public func run(tokens: [Int32], slots: [Int32], positions: [Int32], logitRows: [Int]) -> UnsafeMutablePointer<Float> {
        let c = model.config, R = tokens.count, C = c.hiddenSize, F = c.intermediateSize
        let P = model.params.pointer, layout = model.layout
        x.ensure(R * C); xn.ensure(R * C); qkv.ensure(R * c.qkvDim); att.ensure(R * c.qDim)
        gu.ensure(R * 2 * F); h.ensure(R * F)
        var span = 1
        for p in positions { span = max(span, Int(p) + 1) }
        scores.ensure(cache.layout.scratchCount(rows: R, span: span))
        tokens.withUnsafeBufferPointer { ids in
            weights.embed(out: x.pointer, ids: ids.baseAddress!, rows: R, model: model)
        }
        slots.withUnsafeBufferPointer { slotBuf in
        positions.withUnsafeBufferPointer { posBuf in
            let slot = slotBuf.baseAddress!, pos = posBuf.baseAddress!
            for l in 0..<c.numLayers {
                let w = layout.layer(l, in: model.params), pw = weights.layers[l]
                let kc = cache.keys.pointer + l * cache.layerStride, vc = cache.values.pointer + l * cache.layerStride
                RMSNorm.forward(out: xn.pointer, rstd: nil, x: x.pointer, w: w.attnNorm, rows: R, dim: C, eps: c.rmsNormEps)
                pw.qkv.multiply(out: qkv.pointer, x: xn.pointer, rows: R)
                model.finishQKV(qkv.pointer, layer: w, rows: R, positions: pos)
                Parallel.range(R, grain: 16) { r0, r1 in
                    for r in r0..<r1 {
                        let k = qkv.pointer + r * c.qkvDim + c.qDim
                        cache.layout.store(keys: kc, values: vc, slot: Int(slot[r]), position: Int(pos[r]), k: k, v: k + c.kvDim)
                    }
                }
                cache.layout.forward(out: att.pointer, q: qkv.pointer, keys: kc, values: vc, slot: slot, pos: pos,
                                     rows: R, span: span, scratch: scores.pointer)
                pw.o.multiply(out: x.pointer, x: att.pointer, rows: R, accumulate: true)
                RMSNorm.forward(out: xn.pointer, rstd: nil, x: x.pointer, w: w.mlpNorm, rows: R, dim: C, eps: c.rmsNormEps)
                pw.gateUp.multiply(out: gu.pointer, x: xn.pointer, rows: R)
                SwiGLU.forward(h: h.pointer, gu: gu.pointer, rows: R, dim: F)
                pw.down.multiply(out: x.pointer, x: h.pointer, rows: R, accumulate: true)
            }
        }
        }
        let L = logitRows.count
        let sel = lastNorm.ensure(L * C)
        for (i, r) in logitRows.enumerated() { (sel + i * C).update(from: x.pointer + r * C, count: C) }
        RMSNorm.forward(out: sel, rstd: nil, x: sel, w: P + layout.finalNorm, rows: L, dim: C, eps: c.rmsNormEps)
        let out = logits.ensure(L * c.vocabSize)
        weights.lmHead.multiply(out: out, x: sel, rows: L)
        return out
    }
}
