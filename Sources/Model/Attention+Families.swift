import Kernels

/// What happens to the fused q|k|v projection before attention, in every family: the q/k/v biases
/// (Qwen2), an RMSNorm over each head's q and k (Qwen3), then RoPE. Training and generation both call
/// these, so the two cannot drift apart.
extension LlamaModel {
    /// Finishes `rows` rows of q|k|v (row stride qkvDim) in place. For the backward, `raw` receives the input
    /// to the q/k norms and `rstd` their scales (rows x (heads + kvHeads)); generation passes neither.
    public func finishQKV(_ qkv: UnsafeMutablePointer<Float>, layer w: LayerView, rows: Int, positions: UnsafePointer<Int32>,
                          raw: UnsafeMutablePointer<Float>? = nil, rstd: UnsafeMutablePointer<Float>? = nil) {
        let c = config
        if let b = w.qkvBias { Bias.forward(qkv, b, rows: rows, dim: c.qkvDim, stride: c.qkvDim) }
        if let n = w.qkNorm {
            raw?.update(from: qkv, count: rows * c.qkvDim)
            RMSNorm.forwardHeads(qkv, rstd: rstd, w: n, rows: rows, heads: c.numHeads, dim: c.headDim, stride: c.qkvDim, eps: c.rmsNormEps)
            RMSNorm.forwardHeads(qkv + c.qDim, rstd: rstd.map { $0 + rows * c.numHeads }, w: n + c.headDim, rows: rows, heads: c.numKVHeads,
                                 dim: c.headDim, stride: c.qkvDim, eps: c.rmsNormEps)
        }
        RoPE.apply(qkv, rows: rows, rowStride: c.qkvDim, heads: c.numHeads, positions: positions, table: rope, layout: ropeLayout)
        RoPE.apply(qkv + c.qDim, rows: rows, rowStride: c.qkvDim, heads: c.numKVHeads, positions: positions, table: rope, layout: ropeLayout)
    }

    /// The backward of `finishQKV`, in place: `dqkv` (the gradient of its output) becomes the gradient of
    /// the projection's output; the bias and norm gradients are added into `g`.
    public func finishQKVBackward(_ dqkv: UnsafeMutablePointer<Float>, layer w: LayerView, grads g: LayerView?, rows: Int,
                                  positions: UnsafePointer<Int32>, raw: UnsafePointer<Float>?, rstd: UnsafePointer<Float>?) {
        let c = config
        RoPE.apply(dqkv, rows: rows, rowStride: c.qkvDim, heads: c.numHeads, positions: positions, table: rope, layout: ropeLayout, inverse: true)
        RoPE.apply(dqkv + c.qDim, rows: rows, rowStride: c.qkvDim, heads: c.numKVHeads, positions: positions, table: rope, layout: ropeLayout,
                   inverse: true)
        if let n = w.qkNorm, let raw, let rstd {
            let dn = g?.qkNorm
            RMSNorm.backwardHeads(dqkv, dw: dn, x: raw, w: n, rstd: rstd, rows: rows, heads: c.numHeads, dim: c.headDim, stride: c.qkvDim)
            RMSNorm.backwardHeads(dqkv + c.qDim, dw: dn.map { $0 + c.headDim }, x: raw + c.qDim, w: n + c.headDim, rstd: rstd + rows * c.numHeads,
                                  rows: rows, heads: c.numKVHeads, dim: c.headDim, stride: c.qkvDim)
        }
        if let db = g?.qkvBias { Bias.backward(db, dout: dqkv, rows: rows, dim: c.qkvDim, stride: c.qkvDim) }
    }
}
