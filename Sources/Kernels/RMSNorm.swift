/// RMSNorm as Llama uses it: y = x / sqrt(mean(x^2) + eps) * w, computed in float32.
public enum RMSNorm {
    /// out[r,:] = x[r,:] * rstd[r] * w. Caches rstd[r] = 1/sqrt(mean(x[r,:]^2) + eps) for backward.
    public static func forward(out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>?,
                               x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                               rows: Int, dim: Int, eps: Float) {
        Parallel.range(rows, grain: max(1, 8192 / max(dim, 1))) { lo, hi in
            for r in lo..<hi {
                let xr = x + r * dim, yr = out + r * dim
                let s = 1 / (VectorMath.sumSquares(xr, dim) / Float(dim) + eps).squareRoot()
                rstd?[r] = s
                var i = 0
                while i + 16 <= dim {
                    VectorMath.store16(VectorMath.load16(xr + i) * s * VectorMath.load16(w + i), yr + i)
                    i += 16
                }
                while i < dim { yr[i] = xr[i] * s * w[i]; i += 1 }
            }
        }
    }

    /// dx += rstd * (g - xhat * mean(g . xhat)) with g = dout * w and xhat = x * rstd; dw += sum_r dout * xhat.
    public static func backward(dx: UnsafeMutablePointer<Float>, dw: UnsafeMutablePointer<Float>,
                                dout: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                w: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, dim: Int) {
        Parallel.range(rows, grain: max(1, 8192 / max(dim, 1))) { lo, hi in
            for r in lo..<hi {
                let xr = x + r * dim, gr = dout + r * dim, dxr = dx + r * dim
                let s = rstd[r]
                // mean over the row of (dout * w) . xhat
                var acc = SIMD16<Float>()
                var i = 0
                while i + 16 <= dim {
                    acc += VectorMath.load16(gr + i) * VectorMath.load16(w + i) * VectorMath.load16(xr + i)
                    i += 16
                }
                var dotv = acc.sum()
                while i < dim { dotv += gr[i] * w[i] * xr[i]; i += 1 }
                let c = dotv * s * s / Float(dim)
                i = 0
                while i + 16 <= dim {
                    let g = VectorMath.load16(gr + i) * VectorMath.load16(w + i)
                    let v = VectorMath.load16(dxr + i) + s * (g - VectorMath.load16(xr + i) * c)
                    VectorMath.store16(v, dxr + i)
                    i += 16
                }
                while i < dim { dxr[i] += s * (gr[i] * w[i] - xr[i] * c); i += 1 }
            }
        }
        // dw by column blocks so that no two threads write the same entry.
        Parallel.range(dim, grain: 64) { c0, c1 in
            for r in 0..<rows {
                let xr = x + r * dim, gr = dout + r * dim
                let s = rstd[r]
                for c in c0..<c1 { dw[c] += gr[c] * xr[c] * s }
            }
        }
    }
}

extension RMSNorm {
    /// RMSNorm over each of `heads` vectors of `dim` per row (Qwen3's q and k norms): vector (r, h) starts at
    /// `x + r * stride + h * dim` and is normalised in place with the shared gain `w`; rstd[r * heads + h] is
    /// kept for the backward (which needs the input, so the caller keeps a copy).
    public static func forwardHeads(_ x: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>?, w: UnsafePointer<Float>,
                                    rows: Int, heads: Int, dim: Int, stride: Int, eps: Float) {
        Parallel.range(rows, grain: max(1, 4096 / max(heads * dim, 1))) { lo, hi in
            for r in lo..<hi {
                for h in 0..<heads {
                    let v = x + r * stride + h * dim
                    let s = 1 / (VectorMath.sumSquares(v, dim) / Float(dim) + eps).squareRoot()
                    rstd?[r * heads + h] = s
                    for i in 0..<dim { v[i] = v[i] * s * w[i] }
                }
            }
        }
    }

    /// The backward of `forwardHeads`, in place: `d` holds the gradient of the output and becomes the
    /// gradient of the input `x` (the saved copy, laid out the same way); dw += sum over vectors of d * xhat.
    public static func backwardHeads(_ d: UnsafeMutablePointer<Float>, dw: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                                     w: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, heads: Int, dim: Int, stride: Int) {
        Parallel.range(dim, grain: 16) { c0, c1 in
            for r in 0..<rows {
                for h in 0..<heads {
                    let off = r * stride + h * dim, s = rstd[r * heads + h]
                    for c in c0..<c1 { dw[c] += d[off + c] * x[off + c] * s }
                }
            }
        }
        Parallel.range(rows, grain: max(1, 4096 / max(heads * dim, 1))) { lo, hi in
            for r in lo..<hi {
                for h in 0..<heads {
                    let off = r * stride + h * dim, s = rstd[r * heads + h]
                    let g = d + off, xv = x + off
                    var dot: Float = 0
                    for i in 0..<dim { dot += g[i] * w[i] * xv[i] }
                    let c = dot * s * s / Float(dim)
                    for i in 0..<dim { g[i] = s * (g[i] * w[i] - xv[i] * c) }
                }
            }
        }
    }
}
