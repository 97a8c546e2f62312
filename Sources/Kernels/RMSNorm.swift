/// RMSNorm as Llama uses it: y = x / sqrt(mean(x^2) + eps) * w, computed in float32.
public enum RMSNorm {
    /// out[r,:] = x[r,:] * rstd[r] * w. Caches rstd[r] = 1/sqrt(mean(x[r,:]^2) + eps) for backward.
    public static func forward(out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>?,
                               x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                               rows: Int, dim: Int, eps: Float) {
        Parallel.range(rows, grain: max(1, 8192 / max(dim, 1))) { lo, hi in
            for r in lo..<hi {
                let s = normalize(out: out + r * dim, x: x + r * dim, w: w, dim: dim, eps: eps)
                rstd?[r] = s
            }
        }
    }

    /// dx += rstd * (g - xhat * mean(g . xhat)) with g = dout * w and xhat = x * rstd; dw += sum_r dout * xhat
    /// (skipped without `dw`: a frozen gain).
    public static func backward(dx: UnsafeMutablePointer<Float>, dw: UnsafeMutablePointer<Float>?,
                                dout: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                w: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, dim: Int) {
        Parallel.range(rows, grain: max(1, 8192 / max(dim, 1))) { lo, hi in
            for r in lo..<hi {
                inputGradient(dx: dx + r * dim, dout: dout + r * dim, x: x + r * dim, w: w, s: rstd[r], dim: dim, accumulate: true)
            }
        }
        // dw by column blocks so that no two threads write the same entry.
        guard let dw else { return }
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
    /// One vector: out = x * s * w with s = 1/sqrt(mean(x^2) + eps), returned (out may be x).
    @inline(__always)
    static func normalize(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>, dim: Int, eps: Float) -> Float {
        let s = 1 / (VectorMath.sumSquares(x, dim) / Float(dim) + eps).squareRoot()
        var i = 0
        while i + 16 <= dim {
            VectorMath.store16(VectorMath.load16(x + i) * s * VectorMath.load16(w + i), out + i)
            i += 16
        }
        while i < dim { out[i] = x[i] * s * w[i]; i += 1 }
        return s
    }

    /// One vector's input gradient, s * (g - xhat * mean(g . xhat)) with g = dout * w, added to `dx` or
    /// written over it (`dx` may then be `dout`: the dot product is taken before anything is written).
    @inline(__always)
    static func inputGradient(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                              s: Float, dim: Int, accumulate: Bool) {
        var acc = SIMD16<Float>()
        var i = 0
        while i + 16 <= dim {
            acc += VectorMath.load16(dout + i) * VectorMath.load16(w + i) * VectorMath.load16(x + i)
            i += 16
        }
        var dotv = acc.sum()
        while i < dim { dotv += dout[i] * w[i] * x[i]; i += 1 }
        let c = dotv * s * s / Float(dim)
        i = 0
        while i + 16 <= dim {
            let g = VectorMath.load16(dout + i) * VectorMath.load16(w + i)
            let v = s * (g - VectorMath.load16(x + i) * c)
            VectorMath.store16(accumulate ? VectorMath.load16(dx + i) + v : v, dx + i)
            i += 16
        }
        while i < dim { let v = s * (dout[i] * w[i] - x[i] * c); dx[i] = accumulate ? dx[i] + v : v; i += 1 }
    }

    /// RMSNorm over each of `heads` vectors of `dim` per row (Qwen3's q and k norms): vector (r, h) starts at
    /// `x + r * stride + h * dim` and is normalised in place with the shared gain `w`; rstd[r * heads + h] is
    /// kept for the backward (which needs the input, so the caller keeps a copy).
    public static func forwardHeads(_ x: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>?, w: UnsafePointer<Float>,
                                    rows: Int, heads: Int, dim: Int, stride: Int, eps: Float) {
        Parallel.range(rows, grain: max(1, 4096 / max(heads * dim, 1))) { lo, hi in
            for r in lo..<hi {
                for h in 0..<heads {
                    let v = x + r * stride + h * dim
                    let s = normalize(out: v, x: v, w: w, dim: dim, eps: eps)  // (not inside rstd?[...] = : that skips it when nil)
                    rstd?[r * heads + h] = s
                }
            }
        }
    }

    /// The backward of `forwardHeads`, in place: `d` holds the gradient of the output and becomes the
    /// gradient of the input `x` (the saved copy, laid out the same way); dw += sum over vectors of d * xhat.
    public static func backwardHeads(_ d: UnsafeMutablePointer<Float>, dw: UnsafeMutablePointer<Float>?, x: UnsafePointer<Float>,
                                     w: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, heads: Int, dim: Int, stride: Int) {
        if let dw {
            Parallel.range(dim, grain: 16) { c0, c1 in
                for r in 0..<rows {
                    for h in 0..<heads {
                        let off = r * stride + h * dim, s = rstd[r * heads + h]
                        for c in c0..<c1 { dw[c] += d[off + c] * x[off + c] * s }
                    }
                }
            }
        }
        Parallel.range(rows, grain: max(1, 4096 / max(heads * dim, 1))) { lo, hi in
            for r in lo..<hi {
                for h in 0..<heads {
                    let off = r * stride + h * dim
                    inputGradient(dx: d + off, dout: d + off, x: x + off, w: w, s: rstd[r * heads + h], dim: dim, accumulate: false)
                }
            }
        }
    }
}
