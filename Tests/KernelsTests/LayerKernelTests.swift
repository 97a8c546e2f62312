import Testing
import Foundation
import Kernels
import TestSupport

@Suite(.serialized) struct LayerKernelTests {
    @Test func rmsNormForwardMatchesDefinitionAndBackwardMatchesFiniteDifferences() {
        var rng = TestRNG(10)
        let rows = 5, dim = 37, eps: Float = 1e-5
        let x = rng.buffer(rows * dim), w = rng.buffer(dim), cot = rng.buffer(rows * dim)
        let out = FloatBuffer(count: rows * dim), rstd = FloatBuffer(count: rows)
        withThreadCounts { _ in
            RMSNorm.forward(out: out.pointer, rstd: rstd.pointer, x: x.pointer, w: w.pointer, rows: rows, dim: dim, eps: eps)
            for r in 0..<rows {
                var ms = 0.0
                for c in 0..<dim { ms += Double(x[r * dim + c]) * Double(x[r * dim + c]) }
                let s = 1 / (ms / Double(dim) + Double(eps)).squareRoot()
                for c in 0..<dim {
                    #expect(abs(Double(out[r * dim + c]) - Double(x[r * dim + c]) * s * Double(w[c])) < 1e-5)
                }
            }
        }
        func loss() -> Double {
            RMSNorm.forward(out: out.pointer, rstd: rstd.pointer, x: x.pointer, w: w.pointer, rows: rows, dim: dim, eps: eps)
            return dotDouble(out, cot)
        }
        _ = loss()
        let dx = FloatBuffer(count: x.count), dw = FloatBuffer(count: w.count)
        RMSNorm.backward(dx: dx.pointer, dw: dw.pointer, dout: cot.pointer, x: x.pointer, w: w.pointer,
                         rstd: rstd.pointer, rows: rows, dim: dim)
        #expect(finiteDifferenceRatio(x: x, analytic: dx, eps: 1e-3, loss: loss) <= 1)
        #expect(finiteDifferenceRatio(x: w, analytic: dw, eps: 1e-3, loss: loss) <= 1)
        // Backward accumulates (+=): a second call doubles both gradients.
        let dx1 = dx.array, dw1 = dw.array
        RMSNorm.backward(dx: dx.pointer, dw: dw.pointer, dout: cot.pointer, x: x.pointer, w: w.pointer,
                         rstd: rstd.pointer, rows: rows, dim: dim)
        for i in 0..<dx.count { #expect(abs(dx[i] - 2 * dx1[i]) <= 1e-5 * (1 + abs(dx1[i]))) }
        for i in 0..<dw.count { #expect(abs(dw[i] - 2 * dw1[i]) <= 1e-5 * (1 + abs(dw1[i]))) }
    }

    @Test(arguments: [RoPELayout.halfSplit, .interleaved])
    func ropeRotatesPairsAndItsInverseIsTheBackward(layout: RoPELayout) {
        var rng = TestRNG(11)
        let hd = 8, heads = 3, rows = 6, stride = heads * hd + 4
        let table = RoPETable(headDim: hd, maxPositions: 64, theta: 10000)
        let positions: [Int32] = [0, 1, 2, 17, 40, 63]
        let x = rng.buffer(rows * stride)
        let y = FloatBuffer(count: x.count); y.copy(from: x)
        positions.withUnsafeBufferPointer { pos in
            RoPE.apply(y.pointer, rows: rows, rowStride: stride, heads: heads, positions: pos.baseAddress!,
                       table: table, layout: layout)
        }
        for r in 0..<rows {
            for h in 0..<heads {
                for i in 0..<hd / 2 {
                    let (a, b) = layout == .halfSplit ? (i, i + hd / 2) : (2 * i, 2 * i + 1)
                    let theta = Double(positions[r]) * pow(10000.0, -Double(2 * i) / Double(hd))
                    let base = r * stride + h * hd
                    let xa = Double(x[base + a]), xb = Double(x[base + b])
                    #expect(abs(Double(y[base + a]) - (xa * cos(theta) - xb * sin(theta))) < 1e-4)
                    #expect(abs(Double(y[base + b]) - (xb * cos(theta) + xa * sin(theta))) < 1e-4)
                }
            }
            // The padding beyond the heads is untouched.
            for c in heads * hd..<stride { #expect(y[r * stride + c] == x[r * stride + c]) }
        }
        // Backward: d(loss)/dx for loss = <rope(x), cot> is the inverse rotation of cot.
        let cot = rng.buffer(x.count)
        let grad = FloatBuffer(count: x.count); grad.copy(from: cot)
        positions.withUnsafeBufferPointer { pos in
            RoPE.apply(grad.pointer, rows: rows, rowStride: stride, heads: heads, positions: pos.baseAddress!,
                       table: table, layout: layout, inverse: true)
        }
        let work = FloatBuffer(count: x.count)
        func loss() -> Double {
            work.copy(from: x)
            positions.withUnsafeBufferPointer { pos in
                RoPE.apply(work.pointer, rows: rows, rowStride: stride, heads: heads, positions: pos.baseAddress!,
                           table: table, layout: layout)
            }
            return dotDouble(work, cot)
        }
        #expect(finiteDifferenceRatio(x: x, analytic: grad, samples: 200, loss: loss) <= 1)
    }

    @Test func swigluForwardAndBackward() {
        var rng = TestRNG(12)
        let rows = 4, dim = 21
        let gu = rng.buffer(rows * 2 * dim, scale: 2), cot = rng.buffer(rows * dim)
        let h = FloatBuffer(count: rows * dim)
        SwiGLU.forward(h: h.pointer, gu: gu.pointer, rows: rows, dim: dim)
        for r in 0..<rows { for i in 0..<dim {
            let g = Double(gu[r * 2 * dim + i]), u = Double(gu[r * 2 * dim + dim + i])
            #expect(abs(Double(h[r * dim + i]) - g / (1 + exp(-g)) * u) < 1e-5 * (1 + abs(g * u)))
        } }
        func loss() -> Double { SwiGLU.forward(h: h.pointer, gu: gu.pointer, rows: rows, dim: dim); return dotDouble(h, cot) }
        let dgu = FloatBuffer(count: gu.count)
        SwiGLU.backward(dgu: dgu.pointer, dh: cot.pointer, gu: gu.pointer, rows: rows, dim: dim)
        #expect(finiteDifferenceRatio(x: gu, analytic: dgu, samples: 200, eps: 1e-3, loss: loss) <= 1)
    }

    @Test func embeddingBackwardAccumulatesRepeatedIds() {
        var rng = TestRNG(13)
        let vocab = 9, dim = 70, ids: [Int32] = [3, 1, 3, 8, 3, 0]
        let table = rng.buffer(vocab * dim), cot = rng.buffer(ids.count * dim)
        let out = FloatBuffer(count: ids.count * dim)
        func loss() -> Double {
            ids.withUnsafeBufferPointer { Embedding.forward(out: out.pointer, ids: $0.baseAddress!, table: table.pointer, rows: ids.count, dim: dim) }
            return dotDouble(out, cot)
        }
        _ = loss()
        #expect(out[2 * dim + 5] == table[3 * dim + 5])
        let dt = FloatBuffer(count: table.count)
        withThreadCounts { _ in
            dt.zero()
            ids.withUnsafeBufferPointer { Embedding.backward(dtable: dt.pointer, dout: cot.pointer, ids: $0.baseAddress!, rows: ids.count, dim: dim) }
            #expect(abs(dt[3 * dim + 4] - (cot[0 * dim + 4] + cot[2 * dim + 4] + cot[4 * dim + 4])) < 1e-6)
            #expect(finiteDifferenceRatio(x: table, analytic: dt, samples: 300, loss: loss) <= 1)
        }
    }

    @Test func crossEntropyMatchesDoubleLogSoftmaxAndItsGradient() {
        var rng = TestRNG(14)
        let rows = 5, vocab = 203
        let logits = rng.buffer(rows * vocab, scale: 3)
        let targets: [Int32] = [4, -1, 202, 0, 77]
        let dlogp: [Float] = [0.5, 0.9, -1.25, 2, 0.1]
        let lp = FloatBuffer(count: rows), lse = FloatBuffer(count: rows)
        func run() {
            targets.withUnsafeBufferPointer { t in
                CrossEntropy.forward(logprob: lp.pointer, lse: lse.pointer, logits: logits.pointer, targets: t.baseAddress!, rows: rows, vocab: vocab)
            }
        }
        run()
        for r in 0..<rows {
            if targets[r] < 0 { #expect(lp[r] == 0); continue }
            var m = -Double.infinity
            for j in 0..<vocab { m = max(m, Double(logits[r * vocab + j])) }
            var s = 0.0
            for j in 0..<vocab { s += exp(Double(logits[r * vocab + j]) - m) }
            let ref = Double(logits[r * vocab + Int(targets[r])]) - m - log(s)
            #expect(abs(Double(lp[r]) - ref) < 2e-6)
        }
        func loss() -> Double { run(); var s = 0.0; for r in 0..<rows { s += Double(dlogp[r]) * Double(lp[r]) }; return s }
        let grad = FloatBuffer(count: logits.count); grad.copy(from: logits)
        targets.withUnsafeBufferPointer { t in dlogp.withUnsafeBufferPointer { g in
            CrossEntropy.backward(logits: grad.pointer, lse: lse.pointer, targets: t.baseAddress!, dlogprob: g.baseAddress!, rows: rows, vocab: vocab)
        } }
        for j in 0..<vocab { #expect(grad[vocab + j] == 0) }  // the masked row
        #expect(finiteDifferenceRatio(x: logits, analytic: grad, samples: 300, eps: 1e-2, loss: loss) <= 1)
    }

    @Test func adamWMatchesTheTorchUpdateOverThreeSteps() {
        // Reference computed here in Double straight from torch.optim.AdamW's documented update.
        let p0: [Float] = [0.5, -1.0, 2.0, 0.0], grads: [[Float]] = [[0.1, -0.2, 0.3, 0.0], [0.05, 0.4, -0.3, 1.0], [-0.2, 0.1, 0.0, -1.0]]
        let s = AdamWSettings(learningRate: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1)
        let p = FloatBuffer(p0), m = FloatBuffer(count: 4), v = FloatBuffer(count: 4), g = FloatBuffer(count: 4)
        var rp = p0.map(Double.init), rm = [Double](repeating: 0, count: 4), rv = rm
        let spans = [AdamW.Span(offset: 0, count: 2, decay: true), AdamW.Span(offset: 2, count: 2, decay: false)]
        for (t, gs) in grads.enumerated() {
            for i in 0..<4 { g[i] = gs[i] }
            AdamW.step(params: p.pointer, grads: g.pointer, m: m.pointer, v: v.pointer, spans: spans, step: t + 1, lr: s.learningRate, settings: s)
            for i in 0..<4 {
                let lr = Double(s.learningRate), gi = Double(gs[i])
                if i < 2 { rp[i] *= 1 - lr * Double(s.weightDecay) }
                rm[i] = 0.9 * rm[i] + 0.1 * gi
                rv[i] = 0.95 * rv[i] + 0.05 * gi * gi
                let mh = rm[i] / (1 - pow(0.9, Double(t + 1))), vh = rv[i] / (1 - pow(0.95, Double(t + 1)))
                rp[i] -= lr * mh / (vh.squareRoot() + 1e-8)
            }
        }
        for i in 0..<4 { #expect(abs(Double(p[i]) - rp[i]) < 1e-6, "param \(i): \(p[i]) vs \(rp[i])") }
    }

    @Test func gradientClippingScalesToTheMaximumNorm() {
        var rng = TestRNG(15)
        let g = rng.buffer(300_001)
        let ref = g.array.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        withThreadCounts { _ in
            #expect(abs(Double(GradientClipping.globalNorm(g.pointer, count: g.count)) - ref) < 1e-5 * ref)
        }
        let before = GradientClipping.clip(g.pointer, count: g.count, maxNorm: 1)
        #expect(abs(Double(before) - ref) < 1e-5 * ref)
        #expect(abs(GradientClipping.globalNorm(g.pointer, count: g.count) - 1) < 1e-5)
        let unchanged = g.array
        GradientClipping.clip(g.pointer, count: g.count, maxNorm: 5)
        #expect(g.array == unchanged)
    }
}
