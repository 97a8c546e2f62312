import Testing
import Foundation
import Kernels
import TestSupport

/// Decoding attention against its key/value cache layout.
@Suite(.serialized) struct CachedAttentionTests {
    /// One configuration: per slot, `written` positions of random keys and values (kept in plain arrays for
    /// the reference) stored into a cache whose every other float is NaN, so reading a position that was
    /// not written would show.
    struct Setup {
        let att: CachedAttention
        let keys: FloatBuffer, values: FloatBuffer
        var k: [[Float]], v: [[Float]]  // [slot][position * kvDim + d]

        init(shape: Attention.Shape, capacity: Int, slots: Int, written: Int, rng: inout TestRNG) {
            att = CachedAttention(shape: shape, capacity: capacity)
            keys = FloatBuffer(count: slots * att.slotStride)
            values = FloatBuffer(count: slots * att.slotStride)
            keys.pointer.update(repeating: .nan, count: keys.count)
            values.pointer.update(repeating: .nan, count: values.count)
            let kvDim = shape.kvHeads * shape.headDim
            k = []; v = []
            for s in 0..<slots {
                k.append((0..<written * kvDim).map { _ in rng.normal() })
                v.append((0..<written * kvDim).map { _ in rng.normal() })
                for p in 0..<written {
                    k[s].withUnsafeBufferPointer { kp in
                        v[s].withUnsafeBufferPointer { vp in
                            att.store(keys: keys.pointer, values: values.pointer, slot: s, position: p,
                                      k: kp.baseAddress! + p * kvDim, v: vp.baseAddress! + p * kvDim)
                        }
                    }
                }
            }
        }

        /// Naive attention in double of one query row (all heads) at `pos` of `slot`.
        func reference(q: [Float], slot: Int, pos: Int) -> [Double] {
            let shape = att.shape, hd = shape.headDim, rep = shape.heads / shape.kvHeads, kvDim = shape.kvHeads * hd
            var out = [Double](repeating: 0, count: shape.heads * hd)
            for h in 0..<shape.heads {
                let g = h / rep
                let scores = (0...pos).map { t in
                    (0..<hd).reduce(0.0) { $0 + Double(q[h * hd + $1]) * Double(k[slot][t * kvDim + g * hd + $1]) } / Double(hd).squareRoot()
                }
                let m = scores.max()!, e = scores.map { exp($0 - m) }, z = e.reduce(0, +)
                for d in 0..<hd {
                    out[h * hd + d] = (0...pos).reduce(0.0) { $0 + e[$1] / z * Double(v[slot][$1 * kvDim + g * hd + d]) }
                }
            }
            return out
        }

        /// The kernel's output for rows (slot, pos, query); queries are laid out with `qStride` = heads*hd.
        func run(_ rows: [(slot: Int, pos: Int, q: [Float])]) -> [[Float]] {
            let shape = att.shape, width = shape.heads * shape.headDim
            let q = rows.flatMap(\.q), slots = rows.map { Int32($0.slot) }, pos = rows.map { Int32($0.pos) }
            let span = (rows.map(\.pos).max() ?? 0) + 1
            var out = [Float](repeating: 0, count: rows.count * width)
            let scratch = FloatBuffer(count: att.scratchCount(rows: rows.count, span: span))
            out.withUnsafeMutableBufferPointer { o in
                att.forward(out: o.baseAddress!, q: q, keys: keys.pointer, values: values.pointer, slot: slots, pos: pos,
                            rows: rows.count, span: span, scratch: scratch.pointer)
            }
            return (0..<rows.count).map { Array(out[($0 * width)..<(($0 + 1) * width)]) }
        }
    }

    /// Every head count per kv head the kernel groups differently (1, 2, 3 and 4 = 3 + 1), head widths
    /// that use the 16-, 8- and 1-wide value loops, and positions on both sides of the 16-position key
    /// blocks: within 2e-5 of the naive reference at one and two threads. Each row's result is
    /// bit-identical when it runs alone or in another order with other rows.
    @Test func matchesNaiveAttentionAndDoesNotDependOnTheOtherRows() {
        var rng = TestRNG(31)
        let configs = [(heads: 6, kvHeads: 2, hd: 64), (heads: 4, kvHeads: 4, hd: 8), (heads: 8, kvHeads: 2, hd: 12),
                       (heads: 4, kvHeads: 2, hd: 20)]
        for c in configs {
            let width = c.heads * c.hd
            let shape = Attention.Shape(heads: c.heads, kvHeads: c.kvHeads, headDim: c.hd, qStride: width,
                                        kvStride: c.kvHeads * c.hd, outStride: width)
            let setup = Setup(shape: shape, capacity: 48, slots: 3, written: 40, rng: &rng)
            let rows = [(0, 0), (1, 15), (2, 16), (0, 17), (1, 31), (2, 39), (0, 32)].map { (slot: $0.0, pos: $0.1, q: (0..<width).map { _ in rng.normal() }) }
            withThreadCounts { _ in
                let together = setup.run(rows)
                for (i, row) in rows.enumerated() {
                    let ref = setup.reference(q: row.q, slot: row.slot, pos: row.pos)
                    let worst = zip(together[i], ref).map { abs(Double($0) - $1) }.max()!
                    #expect(worst < 2e-5, "heads \(c.heads)/\(c.kvHeads) hd \(c.hd) row \(i): \(worst)")
                    #expect(setup.run([row])[0] == together[i])
                }
                #expect(setup.run(rows.reversed()).reversed() == together)
            }
        }
    }

    /// A copied prefix attends exactly like the original, including a last key block copied part-full.
    @Test func copiedPrefixGivesTheSameOutputs() {
        var rng = TestRNG(32)
        let shape = Attention.Shape(heads: 6, kvHeads: 2, headDim: 16, qStride: 96, kvStride: 32, outStride: 96)
        let setup = Setup(shape: shape, capacity: 32, slots: 2, written: 20, rng: &rng)
        let q = (0..<96).map { _ in rng.normal() }
        let before = setup.run([(slot: 0, pos: 18, q: q)])[0]
        // Slot 1 had other keys and values; after the copy its first 19 positions are slot 0's.
        setup.att.copyPrefix(keys: setup.keys.pointer, values: setup.values.pointer, from: 0, to: 1, count: 19)
        #expect(setup.run([(slot: 1, pos: 18, q: q)])[0] == before)
        #expect(setup.run([(slot: 1, pos: 18, q: q), (slot: 0, pos: 18, q: q)]) == [before, before])
    }
}
