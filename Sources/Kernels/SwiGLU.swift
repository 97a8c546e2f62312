/// The gated MLP activation: h = silu(gate) * up, with gate and up side by side in one row
/// (gu[r] = [gate (F) | up (F)]), as produced by one product with the stacked gate/up weights.
public enum SwiGLU {
    @inline(__always) static func sigmoid(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let lo = VectorMath.exp(-x.lowHalf), hi = VectorMath.exp(-x.highHalf)
        return 1 / (1 + SIMD16(lowHalf: lo, highHalf: hi))
    }
    @inline(__always) static func sigmoid(_ x: Float) -> Float { 1 / (1 + VectorMath.exp(-x)) }

    public static func forward(h: UnsafeMutablePointer<Float>, gu: UnsafePointer<Float>, rows: Int, dim: Int) {
        Parallel.range(rows, grain: max(1, 8192 / max(dim, 1))) { lo, hi in
            for r in lo..<hi {
                let g = gu + r * 2 * dim, u = g + dim, o = h + r * dim
                var i = 0
                while i + 16 <= dim {
                    let gv = VectorMath.load16(g + i)
                    VectorMath.store16(gv * sigmoid(gv) * VectorMath.load16(u + i), o + i)
                    i += 16
                }
                while i < dim { o[i] = g[i] * sigmoid(g[i]) * u[i]; i += 1 }
            }
        }
    }

    /// dgu[r] = [dh * up * sigma(g) * (1 + g * (1 - sigma(g))) | dh * silu(g)] (overwrites dgu).
    public static func backward(dgu: UnsafeMutablePointer<Float>, dh: UnsafePointer<Float>,
                                gu: UnsafePointer<Float>, rows: Int, dim: Int) {
        Parallel.range(rows, grain: max(1, 8192 / max(dim, 1))) { lo, hi in
            for r in lo..<hi {
                let g = gu + r * 2 * dim, u = g + dim, d = dh + r * dim
                let dg = dgu + r * 2 * dim, du = dg + dim
                var i = 0
                while i + 16 <= dim {
                    let gv = VectorMath.load16(g + i), uv = VectorMath.load16(u + i), dv = VectorMath.load16(d + i)
                    let s = sigmoid(gv)
                    VectorMath.store16(dv * uv * s * (1 + gv * (1 - s)), dg + i)
                    VectorMath.store16(dv * gv * s, du + i)
                    i += 16
                }
                while i < dim {
                    let s = sigmoid(g[i])
                    dg[i] = d[i] * u[i] * s * (1 + g[i] * (1 - s))
                    du[i] = d[i] * g[i] * s
                    i += 1
                }
            }
        }
    }
}
