import Testing
import Foundation
import Kernels
import TestSupport

@Suite(.serialized) struct AttentionTests {
    /// Naive causal GQA attention in double, one segment at a time.
    /// `visible(s, i)` lists the columns row i of segment s attends to (default: 0...i).
    func reference(q: FloatBuffer, k: FloatBuffer, v: FloatBuffer, shape: Attention.Shape, packing: Packing,
                   visible: (Int, Int) -> [Int] = { _, i in Array(0...i) }) -> [Double] {
        var out = [Double](repeating: 0, count: packing.tokens * shape.outStride)
        let rep = shape.heads / shape.kvHeads, hd = shape.headDim
        for s in 0..<packing.count {
            let r0 = packing.starts[s], L = packing.lengths[s]
            for h in 0..<shape.heads {
                let g = h / rep
                for i in 0..<L {
                    let cols = visible(s, i)
                    var scores = [Double](repeating: 0, count: cols.count)
                    for (n, j) in cols.enumerated() {
                        var d = 0.0
                        for c in 0..<hd { d += Double(q[(r0 + i) * shape.qStride + h * hd + c]) * Double(k[(r0 + j) * shape.kvStride + g * hd + c]) }
                        scores[n] = d / Double(hd).squareRoot()
                    }
                    let m = scores.max()!
                    let e = scores.map { exp($0 - m) }, z = e.reduce(0, +)
                    for c in 0..<hd {
                        var acc = 0.0
                        for (n, j) in cols.enumerated() { acc += e[n] / z * Double(v[(r0 + j) * shape.kvStride + g * hd + c]) }
                        out[(r0 + i) * shape.outStride + h * hd + c] = acc
                    }
                }
            }
        }
        return out
    }

    /// The forward at every thread count within 2e-5 of the naive reference.
    func expectForward(out: FloatBuffer, probs: FloatBuffer, q: FloatBuffer, k: FloatBuffer, v: FloatBuffer,
                       shape: Attention.Shape, packing: Packing, matches ref: [Double]) {
        withThreadCounts { _ in
            out.zero()
            Attention.forward(out: out.pointer, probs: probs.pointer, q: q.pointer, k: k.pointer, v: v.pointer, shape: shape, packing: packing)
            var worst = 0.0
            for i in 0..<ref.count { worst = max(worst, abs(Double(out[i]) - ref[i])) }
            #expect(worst < 2e-5)
        }
    }

    /// Each (input, analytic gradient) against central differences of `loss` (q, k, v in that order).
    func expectGradients(_ pairs: [(FloatBuffer, FloatBuffer)], matchFiniteDifferencesOf loss: () -> Double) {
        for (i, (x, g)) in pairs.enumerated() {
            #expect(finiteDifferenceRatio(x: x, analytic: g, samples: 120, eps: 1e-2, seed: UInt64(7 + i), loss: loss) <= 1)
        }
    }

    @Test func forwardMatchesNaiveAndBackwardMatchesFiniteDifferences() {
        var rng = TestRNG(20)
        // Two segments longer than one block, one short: exercises blocking, packing and GQA (6 heads, 2 kv).
        let packing = Packing(lengths: [70, 3, 131])
        let heads = 6, kvHeads = 2, hd = 8
        let shape = Attention.Shape(heads: heads, kvHeads: kvHeads, headDim: hd, qStride: heads * hd + 2,
                                    kvStride: kvHeads * hd + 1, outStride: heads * hd)
        let N = packing.tokens
        let q = rng.buffer(N * shape.qStride), k = rng.buffer(N * shape.kvStride), v = rng.buffer(N * shape.kvStride)
        let out = FloatBuffer(count: N * shape.outStride), probs = FloatBuffer(count: shape.probCount(packing))
        let ref = reference(q: q, k: k, v: v, shape: shape, packing: packing)
        expectForward(out: out, probs: probs, q: q, k: k, v: v, shape: shape, packing: packing, matches: ref)
        let cot = rng.buffer(out.count)
        func loss() -> Double {
            Attention.forward(out: out.pointer, probs: probs.pointer, q: q.pointer, k: k.pointer, v: v.pointer, shape: shape, packing: packing)
            return dotDouble(out, cot)
        }
        _ = loss()
        let dq = FloatBuffer(count: q.count), dk = FloatBuffer(count: k.count), dv = FloatBuffer(count: v.count)
        let scratch = FloatBuffer(count: shape.scratchCount(packing))
        // dk/dv are overwritten, not accumulated: garbage in them must not leak into the result.
        for i in 0..<dk.count { dk[i] = 99; dv[i] = -99 }
        withThreadCounts { _ in
            _ = loss()
            Attention.backward(dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: cot.pointer, probs: probs.pointer,
                               scratch: scratch.pointer, q: q.pointer, k: k.pointer, v: v.pointer, shape: shape, packing: packing)
        }
        // Padding columns of the strided buffers are outside every head and must stay put.
        for r in 0..<N {
            #expect(dk[r * shape.kvStride + kvHeads * hd] == 99 && dv[r * shape.kvStride + kvHeads * hd] == -99)
            dk[r * shape.kvStride + kvHeads * hd] = 0; dv[r * shape.kvStride + kvHeads * hd] = 0
        }
        expectGradients([(q, dq), (k, dk), (v, dv)], matchFiniteDifferencesOf: loss)
    }

    /// Tree segments (a shared prefix, then branches that each see the prefix and themselves only): the
    /// forward against the naive attention over exactly those columns, the backward against finite
    /// differences, both through blocks that straddle branch boundaries.
    @Test func treeSegmentsAttendToPrefixAndOwnBranchOnly() {
        var rng = TestRNG(21)
        // (prefix, branch lengths): a plain segment, a two-branch tree across block edges, a three-branch
        // tree with no prefix, a tree with one-row branches.
        let layout: [(Int, [Int])] = [(0, [9]), (40, [50, 30]), (0, [3, 2, 66]), (7, [1, 1])]
        var packing = Packing()
        for (prefix, branches) in layout {
            if branches.count == 1 { packing.append(length: prefix + branches[0]) } else { packing.appendTree(prefix: prefix, branches: branches) }
        }
        #expect(packing.tokens == 9 + 120 + 71 + 9)
        let treePositions: [Int32] = Array(packing.positions[9..<(9 + 120)])
        let expectedPositions: [Int32] = Array(0..<90) + Array(40..<70)
        #expect(treePositions == expectedPositions)
        // Written out independently of Packing.Tree: row i of a branch starting at b sees 0..<prefix and b...i.
        func visible(_ s: Int, _ i: Int) -> [Int] {
            let (prefix, branches) = layout[s]
            if i < prefix { return Array(0...i) }
            var b = prefix
            for n in branches { if i < b + n { break }; b += n }
            return Array(0..<prefix) + Array(b...i)
        }
        let heads = 4, kvHeads = 2, hd = 8
        let shape = Attention.Shape(heads: heads, kvHeads: kvHeads, headDim: hd, qStride: heads * hd,
                                    kvStride: kvHeads * hd, outStride: heads * hd)
        let N = packing.tokens
        let q = rng.buffer(N * shape.qStride), k = rng.buffer(N * shape.kvStride), v = rng.buffer(N * shape.kvStride)
        let out = FloatBuffer(count: N * shape.outStride), probs = FloatBuffer(count: shape.probCount(packing))
        let ref = reference(q: q, k: k, v: v, shape: shape, packing: packing, visible: visible)
        expectForward(out: out, probs: probs, q: q, k: k, v: v, shape: shape, packing: packing, matches: ref)
        let cot = rng.buffer(out.count)
        func loss() -> Double {
            Attention.forward(out: out.pointer, probs: probs.pointer, q: q.pointer, k: k.pointer, v: v.pointer, shape: shape, packing: packing)
            return dotDouble(out, cot)
        }
        _ = loss()
        let dq = FloatBuffer(count: q.count), dk = FloatBuffer(count: k.count), dv = FloatBuffer(count: v.count)
        let scratch = FloatBuffer(count: shape.scratchCount(packing))
        Attention.backward(dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: cot.pointer, probs: probs.pointer,
                           scratch: scratch.pointer, q: q.pointer, k: k.pointer, v: v.pointer, shape: shape, packing: packing)
        expectGradients([(q, dq), (k, dk), (v, dv)], matchFiniteDifferencesOf: loss)
        // A key of the first branch of the 40-prefix tree is invisible to the second branch's rows: its
        // gradient from those rows' outputs alone is zero.
        let cot2 = FloatBuffer(count: out.count)
        for r in (9 + 90)..<(9 + 120) { for c in 0..<shape.outStride { cot2[r * shape.outStride + c] = 1 } }
        _ = loss()
        Attention.backward(dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: cot2.pointer, probs: probs.pointer,
                           scratch: scratch.pointer, q: q.pointer, k: k.pointer, v: v.pointer, shape: shape, packing: packing)
        var leaked: Float = 0
        for r in (9 + 40)..<(9 + 90) { for c in 0..<shape.kvStride { leaked = max(leaked, abs(dk[r * shape.kvStride + c]), abs(dv[r * shape.kvStride + c])) } }
        #expect(leaked == 0)
    }
}
