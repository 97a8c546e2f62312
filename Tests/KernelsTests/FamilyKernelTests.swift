import Testing
import Foundation
import Kernels
import TestSupport

/// The kernels the Qwen families add: the per-head RMSNorm (Qwen3's q/k norms) in a strided layout, the
/// projection bias (Qwen2), and Llama 3's RoPE frequency scaling.
@Suite struct FamilyKernelTests {
    /// Each head vector normalised on its own with the shared gain, the padding between rows untouched; the
    /// in-place backward against finite differences for input and gain.
    @Test func headNormMatchesItsDefinitionAndFiniteDifferences() {
        var rng = TestRNG(21)
        let rows = 5, heads = 3, dim = 12, stride = heads * dim + 7, eps: Float = 1e-6
        let x = rng.buffer(rows * stride), w = rng.buffer(dim), cot = rng.buffer(rows * stride)
        let out = FloatBuffer(count: x.count), rstd = FloatBuffer(count: rows * heads)
        func forward() {
            out.copy(from: x)
            RMSNorm.forwardHeads(out.pointer, rstd: rstd.pointer, w: w.pointer, rows: rows, heads: heads, dim: dim, stride: stride, eps: eps)
        }
        withThreadCounts { _ in
            forward()
            for r in 0..<rows {
                for h in 0..<heads {
                    let base = r * stride + h * dim
                    var ms = 0.0
                    for i in 0..<dim { ms += Double(x[base + i]) * Double(x[base + i]) }
                    let s = 1 / (ms / Double(dim) + Double(eps)).squareRoot()
                    for i in 0..<dim { #expect(abs(Double(out[base + i]) - Double(x[base + i]) * s * Double(w[i])) < 1e-5) }
                }
                for c in heads * dim..<stride { #expect(out[r * stride + c] == x[r * stride + c]) }
            }
        }
        // Without rstd (generation) the output is the same bits.
        let plain = FloatBuffer(count: x.count)
        plain.copy(from: x)
        RMSNorm.forwardHeads(plain.pointer, rstd: nil, w: w.pointer, rows: rows, heads: heads, dim: dim, stride: stride, eps: eps)
        forward()
        #expect(plain.array == out.array)
        // The loss only sees the head vectors (the padding passes through unchanged).
        func loss() -> Double {
            forward()
            var s = 0.0
            for r in 0..<rows { for c in 0..<heads * dim { s += Double(out[r * stride + c]) * Double(cot[r * stride + c]) } }
            return s
        }
        _ = loss()
        let d = FloatBuffer(count: x.count), dw = FloatBuffer(count: dim)
        d.copy(from: cot)
        RMSNorm.backwardHeads(d.pointer, dw: dw.pointer, x: x.pointer, w: w.pointer, rstd: rstd.pointer, rows: rows, heads: heads, dim: dim, stride: stride)
        for r in 0..<rows { for c in heads * dim..<stride { d[r * stride + c] = 0 } }
        #expect(finiteDifferenceRatio(x: x, analytic: d, eps: 1e-3, loss: loss) <= 1)
        #expect(finiteDifferenceRatio(x: w, analytic: dw, eps: 1e-3, loss: loss) <= 1)
    }

    /// The bias adds to the first `dim` columns of each row; its gradient is the column sum, the same bits at
    /// any thread count.
    @Test func biasAddsToEachRowAndItsGradientIsTheColumnSum() {
        var rng = TestRNG(22)
        let rows = 37, dim = 20, stride = 26
        let x = rng.buffer(rows * stride), b = rng.buffer(dim), g = rng.buffer(rows * stride)
        let y = FloatBuffer(count: x.count)
        y.copy(from: x)
        Bias.forward(y.pointer, b.pointer, rows: rows, dim: dim, stride: stride)
        for r in 0..<rows {
            for c in 0..<stride { #expect(y[r * stride + c] == x[r * stride + c] + (c < dim ? b[c] : 0)) }
        }
        var first: [Float]?
        withThreadCounts { _ in
            let db = FloatBuffer(count: dim)
            Bias.backward(db.pointer, dout: g.pointer, rows: rows, dim: dim, stride: stride)
            for c in 0..<dim {
                var s: Float = 0
                for r in 0..<rows { s += g[r * stride + c] }
                #expect(db[c] == s)
            }
            if let f = first { #expect(f == db.array) } else { first = db.array }
        }
    }

    /// Llama 3 scaling, against the published recipe written out here in double precision: wavelengths
    /// above original/low_freq_factor divided by the factor, below original/high_freq_factor kept, blended
    /// in between.
    @Test func llama3ScalingFollowsTheRecipe() {
        let s = RoPEScaling(factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64)
        let table = RoPETable(headDim: 32, maxPositions: 8, theta: 500_000, scaling: s)
        var kinds = Set<String>()
        for i in 0..<16 {
            let inv = 1 / pow(500_000.0, Double(2 * i) / 32), wavelen = 2 * Double.pi / inv
            let expected: Double
            if wavelen < 64.0 / 4 { expected = inv; kinds.insert("high") } else if wavelen > 64.0 / 1 { expected = inv / 32; kinds.insert("low") } else {
                let smooth = (64 / wavelen - 1) / (4 - 1)
                expected = (1 - smooth) * inv / 32 + smooth * inv; kinds.insert("blend")
            }
            // Position 1's angle is the frequency itself.
            let angle = atan2(Double(table.sin[1 * 16 + i]), Double(table.cos[1 * 16 + i]))
            #expect(abs(angle - expected) <= 1e-6 * max(1, expected), "pair \(i): \(angle) vs \(expected)")
        }
        #expect(kinds == ["high", "low", "blend"])
    }
}
