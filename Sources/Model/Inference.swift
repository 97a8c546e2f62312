import Foundation
import Kernels

/// Scoring sequences: per-token log-probabilities, each sequence run unpadded.
extension LlamaModel {
    /// For each sequence x, log p(x_{t+1} | x_0..x_t) for t = 0..n-2. Sequences are packed into batches of
    /// at most `tokenBudget` tokens; each is scored exactly as if run alone.
    public func tokenLogProbs(_ sequences: [[Int32]], tokenBudget: Int = 4096, workspace: Workspace? = nil) throws -> [[Float]] {
        let ws = workspace ?? Workspace(config: config)
        var results: [[Float]] = []
        var start = 0
        while start < sequences.count {
            var end = start, tokens = 0
            while end < sequences.count && (end == start || tokens + sequences[end].count <= tokenBudget) {
                tokens += sequences[end].count; end += 1
            }
            var packing = Packing()
            var ids: [Int32] = [], targets: [Int32] = []
            for s in sequences[start..<end] {
                guard !s.isEmpty else { throw ModelError("cannot score an empty sequence") }
                guard s.count <= config.maxPositions else {
                    throw ModelError("a sequence of \(s.count) tokens exceeds the model's context of \(config.maxPositions)")
                }
                if let bad = s.first(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
                    throw ModelError("token id \(bad) is outside the vocabulary of \(config.vocabSize)")
                }
                packing.append(length: s.count)
                ids += s
                targets += s.dropFirst() + [-1]
            }
            forward(ids: ids, targets: targets, packing: packing, workspace: ws)
            let lp = ws.logprob.pointer
            for (k, s) in sequences[start..<end].enumerated() {
                let r0 = packing.starts[k]
                results.append((0..<(s.count - 1)).map { lp[r0 + $0] })
            }
            start = end
        }
        return results
    }
}

/// Incremental decoding of one sequence with a key/value cache.
public final class DecodeSession {
    public let model: LlamaModel
    public private(set) var length = 0
    let capacity: Int
    let kCache: FloatBuffer, vCache: FloatBuffer
    let x = Scratch(), xn = Scratch(), qkv = Scratch(), att = Scratch(), gu = Scratch(), h = Scratch()
    let scores = Scratch(), logits: FloatBuffer
    var positions: [Int32] = []

    public init(model: LlamaModel, capacity: Int? = nil) {
        self.model = model
        let c = model.config
        self.capacity = min(capacity ?? c.maxPositions, c.maxPositions)
        kCache = FloatBuffer(count: c.numLayers * self.capacity * c.kvDim)
        vCache = FloatBuffer(count: c.numLayers * self.capacity * c.kvDim)
        logits = FloatBuffer(count: c.vocabSize)
    }

    public func reset() { length = 0 }

    /// Feeds `tokens` and returns the logits that follow the last of them.
    @discardableResult
    public func feed(_ tokens: [Int32]) throws -> UnsafeBufferPointer<Float> {
        let c = model.config, n = tokens.count, C = c.hiddenSize, F = c.intermediateSize
        guard n > 0 else { throw ModelError("nothing to feed") }
        guard length + n <= capacity else {
            throw ModelError("the sequence would reach \(length + n) tokens, beyond the context of \(capacity)")
        }
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= c.vocabSize }) {
            throw ModelError("token id \(bad) is outside the vocabulary of \(c.vocabSize)")
        }
        let past = length, total = past + n
        let P = model.params.pointer, layout = model.layout
        x.ensure(n * C); xn.ensure(n * C); qkv.ensure(n * c.qkvDim); att.ensure(n * c.qDim)
        gu.ensure(n * 2 * F); h.ensure(n * F); scores.ensure(c.numHeads * n * total)
        positions.removeAll(keepingCapacity: true)
        for i in 0..<n { positions.append(Int32(past + i)) }
        let shape = Attention.Shape(heads: c.numHeads, kvHeads: c.numKVHeads, headDim: c.headDim,
                                    qStride: c.qkvDim, kvStride: c.kvDim, outStride: c.qDim)
        tokens.withUnsafeBufferPointer { ids in
            Embedding.forward(out: x.pointer, ids: ids.baseAddress!, table: P + layout.embed, rows: n, dim: C)
        }
        positions.withUnsafeBufferPointer { posBuf in
            let pos = posBuf.baseAddress!
            for l in 0..<c.numLayers {
                let w = layout.layer(l, in: model.params)
                let kc = kCache.pointer + l * capacity * c.kvDim, vc = vCache.pointer + l * capacity * c.kvDim
                RMSNorm.forward(out: xn.pointer, rstd: nil, x: x.pointer, w: w.attnNorm, rows: n, dim: C, eps: c.rmsNormEps)
                Gemm.linear(qkv.pointer, xn.pointer, w.qkv, rows: n, inDim: C, outDim: c.qkvDim)
                RoPE.apply(qkv.pointer, rows: n, rowStride: c.qkvDim, heads: c.numHeads, positions: pos, table: model.rope, layout: model.ropeLayout)
                RoPE.apply(qkv.pointer + c.qDim, rows: n, rowStride: c.qkvDim, heads: c.numKVHeads, positions: pos, table: model.rope, layout: model.ropeLayout)
                for i in 0..<n {
                    (kc + (past + i) * c.kvDim).update(from: qkv.pointer + i * c.qkvDim + c.qDim, count: c.kvDim)
                    (vc + (past + i) * c.kvDim).update(from: qkv.pointer + i * c.qkvDim + c.qDim + c.kvDim, count: c.kvDim)
                }
                Attention.forwardCached(out: att.pointer, scratch: scores.pointer, q: qkv.pointer, kCache: kc, vCache: vc,
                                        n: n, past: past, shape: shape)
                Gemm.linear(x.pointer, att.pointer, w.o, rows: n, inDim: c.qDim, outDim: C, accumulate: true)
                RMSNorm.forward(out: xn.pointer, rstd: nil, x: x.pointer, w: w.mlpNorm, rows: n, dim: C, eps: c.rmsNormEps)
                Gemm.linear(gu.pointer, xn.pointer, w.gateUp, rows: n, inDim: C, outDim: 2 * F)
                SwiGLU.forward(h: h.pointer, gu: gu.pointer, rows: n, dim: F)
                Gemm.linear(x.pointer, h.pointer, w.down, rows: n, inDim: F, outDim: C, accumulate: true)
            }
        }
        let last = x.pointer + (n - 1) * C
        RMSNorm.forward(out: xn.pointer, rstd: nil, x: last, w: P + layout.finalNorm, rows: 1, dim: C, eps: c.rmsNormEps)
        Gemm.linear(logits.pointer, xn.pointer, P + layout.lmHead, rows: 1, inDim: C, outDim: c.vocabSize)
        length = total
        return UnsafeBufferPointer(start: logits.pointer, count: c.vocabSize)
    }
}

/// Picking the next token from logits.
public enum Sampling {
    /// Index of the largest logit (the first on ties).
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        for i in 1..<logits.count where logits[i] > logits[best] { best = i }
        return Int32(best)
    }

    /// log-softmax of logits[token].
    public static func logProb(_ logits: UnsafeBufferPointer<Float>, _ token: Int32) -> Float {
        let m = VectorMath.max(logits.baseAddress!, logits.count)
        var s = 0.0
        for v in logits { s += Foundation.exp(Double(v - m)) }
        return Float(Double(logits[Int(token)] - m) - Foundation.log(s))
    }

    /// Greedy when temperature is 0, otherwise a draw from softmax(logits / temperature).
    public static func sample(_ logits: UnsafeBufferPointer<Float>, temperature: Float, rng: inout RandomStream) -> Int32 {
        if temperature <= 0 { return argmax(logits) }
        let m = VectorMath.max(logits.baseAddress!, logits.count)
        var total = 0.0
        for v in logits { total += Foundation.exp(Double((v - m) / temperature)) }
        var u = rng.uniform() * total
        for (i, v) in logits.enumerated() {
            u -= Foundation.exp(Double((v - m) / temperature))
            if u <= 0 { return Int32(i) }
        }
        return Int32(logits.count - 1)
    }
}
