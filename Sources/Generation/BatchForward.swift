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

/// The model's matrices packed for `PackedGemm` (a second copy of the weights, made once per generator).
public final class PackedWeights: @unchecked Sendable {
    public struct Layer: Sendable { public let qkv, o, gateUp, down: PackedMatrix }
    public let layers: [Layer]
    public let lmHead: PackedMatrix

    public init(_ model: LlamaModel) {
        let c = model.config
        layers = (0..<c.numLayers).map { l in
            let w = model.layout.layer(l, in: model.params)
            return Layer(qkv: PackedMatrix(w.qkv, outDim: c.qkvDim, inDim: c.hiddenSize),
                         o: PackedMatrix(w.o, outDim: c.hiddenSize, inDim: c.qDim),
                         gateUp: PackedMatrix(w.gateUp, outDim: 2 * c.intermediateSize, inDim: c.hiddenSize),
                         down: PackedMatrix(w.down, outDim: c.hiddenSize, inDim: c.intermediateSize))
        }
        lmHead = PackedMatrix(model.params.pointer + model.layout.lmHead, outDim: c.vocabSize, inDim: c.hiddenSize)
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
            Embedding.forward(out: x.pointer, ids: ids.baseAddress!, table: P + layout.embed, rows: R, dim: C)
        }
        slots.withUnsafeBufferPointer { slotBuf in
        positions.withUnsafeBufferPointer { posBuf in
            let slot = slotBuf.baseAddress!, pos = posBuf.baseAddress!
            for l in 0..<c.numLayers {
                let w = layout.layer(l, in: model.params), pw = weights.layers[l]
                let kc = cache.keys.pointer + l * cache.layerStride, vc = cache.values.pointer + l * cache.layerStride
                RMSNorm.forward(out: xn.pointer, rstd: nil, x: x.pointer, w: w.attnNorm, rows: R, dim: C, eps: c.rmsNormEps)
                PackedGemm.multiply(out: qkv.pointer, x: xn.pointer, w: pw.qkv, rows: R)
                model.finishQKV(qkv.pointer, layer: w, rows: R, positions: pos)
                Parallel.range(R, grain: 16) { r0, r1 in
                    for r in r0..<r1 {
                        let k = qkv.pointer + r * c.qkvDim + c.qDim
                        cache.layout.store(keys: kc, values: vc, slot: Int(slot[r]), position: Int(pos[r]), k: k, v: k + c.kvDim)
                    }
                }
                cache.layout.forward(out: att.pointer, q: qkv.pointer, keys: kc, values: vc, slot: slot, pos: pos,
                                     rows: R, span: span, scratch: scores.pointer)
                PackedGemm.multiply(out: x.pointer, x: att.pointer, w: pw.o, rows: R, accumulate: true)
                RMSNorm.forward(out: xn.pointer, rstd: nil, x: x.pointer, w: w.mlpNorm, rows: R, dim: C, eps: c.rmsNormEps)
                PackedGemm.multiply(out: gu.pointer, x: xn.pointer, w: pw.gateUp, rows: R)
                SwiGLU.forward(h: h.pointer, gu: gu.pointer, rows: R, dim: F)
                PackedGemm.multiply(out: x.pointer, x: h.pointer, w: pw.down, rows: R, accumulate: true)
            }
        }
        }
        let L = logitRows.count
        let sel = lastNorm.ensure(L * C)
        for (i, r) in logitRows.enumerated() { (sel + i * C).update(from: x.pointer + r * C, count: C) }
        RMSNorm.forward(out: sel, rstd: nil, x: sel, w: P + layout.finalNorm, rows: L, dim: C, eps: c.rmsNormEps)
        let out = logits.ensure(L * c.vocabSize)
        PackedGemm.multiply(out: out, x: sel, w: weights.lmHead, rows: L)
        return out
    }
}
