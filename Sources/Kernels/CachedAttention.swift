import CBLAS

/// Attention of single rows against a key/value cache (decoding and prefill in generation).
///
/// Cache layout for one layer, per slot and per kv head (`groupStride` floats apart, `slotStride` per slot):
/// - keys: blocks of 16 positions, each block [headDim][16], so the scores of 16 positions are 16 lanes
///   of one FMA chain over the head dimension (no horizontal sums) and a group's keys are one sequential run;
/// - values: [position][headDim], one contiguous run per group.
/// `capacity` (positions per slot) is a multiple of 16. Row r is at position `pos[r]` of the sequence in
/// slot `slot[r]` and attends to positions 0...pos[r] (its own key and value already written).
public struct CachedAttention {
    public static let block = 16

    public let shape: Attention.Shape
    public let capacity: Int

    public init(shape: Attention.Shape, capacity: Int) {
        precondition(capacity % CachedAttention.block == 0, "cache capacity must be a multiple of 16")
        self.shape = shape
        self.capacity = capacity
    }

    public var groupStride: Int { capacity * shape.headDim }
    public var slotStride: Int { shape.kvHeads * groupStride }

    /// Offset of the key of (position p, dimension d) within a group.
    @inline(__always)
    public func keyOffset(position p: Int, dim d: Int) -> Int {
        (p / CachedAttention.block) * shape.headDim * CachedAttention.block + d * CachedAttention.block + p % CachedAttention.block
    }

    /// Writes one row's keys and values (kvHeads x headDim each, contiguous) at `position` of `slot`.
    public func store(keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>, slot: Int, position p: Int,
                      k: UnsafePointer<Float>, v: UnsafePointer<Float>) {
        let hd = shape.headDim
        for g in 0..<shape.kvHeads {
            let base = slot * slotStride + g * groupStride
            let kb = keys + base + keyOffset(position: p, dim: 0)
            for d in 0..<hd { kb[d * CachedAttention.block] = k[g * hd + d] }
            (values + base + p * hd).update(from: v + g * hd, count: hd)
        }
    }

    /// Copies positions 0..<count of slot `from` into slot `to` (whole key blocks: the positions after
    /// `count` in the last block are copied too, and overwritten before they are read).
    public func copyPrefix(keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>, from: Int, to: Int, count: Int) {
        guard from != to, count > 0 else { return }
        let hd = shape.headDim, blocks = (count + CachedAttention.block - 1) / CachedAttention.block
        for g in 0..<shape.kvHeads {
            let src = from * slotStride + g * groupStride, dst = to * slotStride + g * groupStride
            (keys + dst).update(from: keys + src, count: blocks * CachedAttention.block * hd)
            (values + dst).update(from: values + src, count: count * hd)
        }
    }

    /// Scratch floats `forward` needs for `rows` rows whose largest position is `span - 1`.
    public func scratchCount(rows: Int, span: Int) -> Int {
        rows * shape.heads * ((span + CachedAttention.block - 1) / CachedAttention.block * CachedAttention.block)
    }

    /// out[r, head] = softmax(q[r, head] . keys[0...pos[r]] * scale) . values. One task per row takes its
    /// kv heads in turn and their query heads three at a time, sharing each key and value load. Every row is computed
    /// alone in a fixed order (each score one FMA chain over d in order; each output one chain over
    /// positions in order), so its result does not depend on the other rows.
    public func forward(out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>,
                        keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                        slot: UnsafePointer<Int32>, pos: UnsafePointer<Int32>, rows: Int, span: Int,
                        scratch: UnsafeMutablePointer<Float>) {
        let shape = self.shape, rep = shape.heads / shape.kvHeads, hd = shape.headDim
        let B = CachedAttention.block, padded = (span + B - 1) / B * B
        let groupStride = self.groupStride, slotStride = self.slotStride
        precondition(span <= capacity, "attention span \(span) exceeds the cache capacity \(capacity)")
        // Tasks of four consecutive rows: a task knows the group it takes next and fetches that group's
        // keys while it computes the current group's outputs.
        let rowsPerTask = 4
        Parallel.tasks((rows + rowsPerTask - 1) / rowsPerTask) { task in
            let first = task * rowsPerTask, end = min(rows, first + rowsPerTask)
            func lines(_ r: Int, _ g: Int) -> LineCursor {
                let n = Int(pos[r]) + 1, base = Int(slot[r]) * slotStride + g * groupStride
                return LineCursor(keys: keys + base, keyLines: (n + B - 1) / B * hd * B / 16,
                                  values: values + base, valueLines: (n * hd + 15) / 16)
            }
            for r in first..<end {
                for g in 0..<shape.kvHeads {
                    let n = Int(pos[r]) + 1
                    let base = Int(slot[r]) * slotStride + g * groupStride
                    let kg = keys + base, vg = values + base
                    var upcoming = g + 1 < shape.kvHeads ? lines(r, g + 1) : r + 1 < end ? lines(r + 1, 0) : LineCursor()
                    let scores = scratch + (r * shape.heads + g * rep) * padded
                    let qg = q + r * shape.qStride + g * rep * hd
                    let og = out + r * shape.outStride + g * rep * hd
                    var j = 0
                    while j < rep {
                        // Heads j, j+1, j+2 (up to three; the pointers of heads past the last are not used).
                        let h1 = min(j + 1, rep - 1), h2 = min(j + 2, rep - 1)
                        let q0 = qg + j * hd, q1 = qg + h1 * hd, q2 = qg + h2 * hd
                        let s0 = scores + j * padded, s1 = scores + h1 * padded, s2 = scores + h2 * padded
                        let heads = min(3, rep - j)
                        func run<H: PackedGemm.RowCount>(_: H.Type) {
                            CachedAttention.scores(H.self, s0, s1, s2, q0, q1, q2, keys: kg, values: vg, count: n, hd: hd,
                                                   scale: shape.scale, prefetch: r == first && g == 0)
                            let inv0 = 1 / VectorMath.expShiftSum(s0, n, shift: VectorMath.max(s0, n))
                            let inv1 = H.n < 2 ? 0 : 1 / VectorMath.expShiftSum(s1, n, shift: VectorMath.max(s1, n))
                            let inv2 = H.n < 3 ? 0 : 1 / VectorMath.expShiftSum(s2, n, shift: VectorMath.max(s2, n))
                            CachedAttention.weightedSums(H.self, og + j * hd, og + h1 * hd, og + h2 * hd, s0, s1, s2,
                                                         inv0, inv1, inv2, values: vg, count: n, hd: hd, prefetch: &upcoming)
                        }
                        switch heads {
                        case 1: run(PackedGemm.Rows1.self)
                        case 2: run(PackedGemm.Rows2.self)
                        default: run(PackedGemm.Rows3.self)
                        }
                        j += heads
                    }
                }
            }
        }
    }

    /// The cache lines of a group's keys then values still to prefetch (to L2), one at a time from inside
    /// the compute loops of the group before it.
    struct LineCursor {
        var p: UnsafePointer<Float>?
        var lines = 0
        var then: UnsafePointer<Float>?
        var thenLines = 0
        init() {}
        init(keys: UnsafePointer<Float>, keyLines: Int, values: UnsafePointer<Float>, valueLines: Int) {
            p = keys; lines = keyLines; then = values; thenLines = valueLines
        }

        @inline(__always)
        mutating func next() {
            if lines == 0 {
                guard thenLines > 0 else { return }
                p = then; lines = thenLines; thenLines = 0
            }
            autodidact_prefetch_l2(p!)
            p = p! + 16
            lines -= 1
        }
    }

    typealias V8 = SIMD8<Float>

    /// Scores of H.n (1-3) heads for positions 0..<count, 16 at a time; lanes past `count` in the last block
    /// are computed on whatever the cache holds there and never read.
    @inline(__always)
    static func scores<H: PackedGemm.RowCount>(_: H.Type, _ s0: UnsafeMutablePointer<Float>, _ s1: UnsafeMutablePointer<Float>, _ s2: UnsafeMutablePointer<Float>,
                       _ q0: UnsafePointer<Float>, _ q1: UnsafePointer<Float>, _ q2: UnsafePointer<Float>,
                       keys: UnsafePointer<Float>, values: UnsafePointer<Float>, count: Int, hd: Int, scale: Float,
                       prefetch: Bool) {
        var t = 0
        var kp = keys
        let ahead = 2 * block * hd, last = (count + block - 1) / block * block * hd
        while t < count {
            let fetchKeys = prefetch && t * hd + ahead < last
            var a0 = V8(), a1 = V8(), b0 = V8(), b1 = V8(), c0 = V8(), c1 = V8()
            // The cache is read from memory once per step. The group before fetches a group's keys and
            // values; the first group of a task fetches its own, keys two blocks ahead and this block's
            // values (hd lines each, one per d).
            let vb = values + t * hd
            for d in 0..<hd {
                if fetchKeys { autodidact_prefetch_l2(kp + ahead) }
                if prefetch { autodidact_prefetch_l2(vb + d * block) }
                let k0 = VectorMath.load8(kp), k1 = VectorMath.load8(kp + 8)
                var x = V8(repeating: q0[d]); a0 = a0.addingProduct(x, k0); a1 = a1.addingProduct(x, k1)
                if H.n > 1 { x = V8(repeating: q1[d]); b0 = b0.addingProduct(x, k0); b1 = b1.addingProduct(x, k1) }
                if H.n > 2 { x = V8(repeating: q2[d]); c0 = c0.addingProduct(x, k0); c1 = c1.addingProduct(x, k1) }
                kp += block
            }
            VectorMath.store8(a0 * scale, s0 + t); VectorMath.store8(a1 * scale, s0 + t + 8)
            if H.n > 1 { VectorMath.store8(b0 * scale, s1 + t); VectorMath.store8(b1 * scale, s1 + t + 8) }
            if H.n > 2 { VectorMath.store8(c0 * scale, s2 + t); VectorMath.store8(c1 * scale, s2 + t + 8) }
            t += block
        }
    }

    /// o_h = inv_h * sum_t w_h[t] * v[t] for H.n (1-3) heads, 16 dimensions at a time (then 8, then single).
    @inline(__always)
    static func weightedSums<H: PackedGemm.RowCount>(_: H.Type, _ o0: UnsafeMutablePointer<Float>, _ o1: UnsafeMutablePointer<Float>, _ o2: UnsafeMutablePointer<Float>,
                             _ w0: UnsafePointer<Float>, _ w1: UnsafePointer<Float>, _ w2: UnsafePointer<Float>,
                             _ inv0: Float, _ inv1: Float, _ inv2: Float,
                             values v: UnsafePointer<Float>, count: Int, hd: Int, prefetch: inout LineCursor) {
        var d = 0
        while d + 16 <= hd {
            var a0 = V8(), a1 = V8(), b0 = V8(), b1 = V8(), c0 = V8(), c1 = V8()
            for t in 0..<count {
                prefetch.next(); prefetch.next()
                let vt = v + t * hd + d
                let v0 = VectorMath.load8(vt), v1 = VectorMath.load8(vt + 8)
                var x = V8(repeating: w0[t]); a0 = a0.addingProduct(x, v0); a1 = a1.addingProduct(x, v1)
                if H.n > 1 { x = V8(repeating: w1[t]); b0 = b0.addingProduct(x, v0); b1 = b1.addingProduct(x, v1) }
                if H.n > 2 { x = V8(repeating: w2[t]); c0 = c0.addingProduct(x, v0); c1 = c1.addingProduct(x, v1) }
            }
            VectorMath.store8(a0 * inv0, o0 + d); VectorMath.store8(a1 * inv0, o0 + d + 8)
            if H.n > 1 { VectorMath.store8(b0 * inv1, o1 + d); VectorMath.store8(b1 * inv1, o1 + d + 8) }
            if H.n > 2 { VectorMath.store8(c0 * inv2, o2 + d); VectorMath.store8(c1 * inv2, o2 + d + 8) }
            d += 16
        }
        while d + 8 <= hd {
            var a = V8(), b = V8(), c = V8()
            for t in 0..<count {
                let vt = VectorMath.load8(v + t * hd + d)
                a = a.addingProduct(V8(repeating: w0[t]), vt)
                if H.n > 1 { b = b.addingProduct(V8(repeating: w1[t]), vt) }
                if H.n > 2 { c = c.addingProduct(V8(repeating: w2[t]), vt) }
            }
            VectorMath.store8(a * inv0, o0 + d)
            if H.n > 1 { VectorMath.store8(b * inv1, o1 + d) }
            if H.n > 2 { VectorMath.store8(c * inv2, o2 + d) }
            d += 8
        }
        while d < hd {
            var a: Float = 0, b: Float = 0, c: Float = 0
            for t in 0..<count {
                let vt = v[t * hd + d]
                a = (w0[t] * vt) + a; b = (w1[t] * vt) + b; c = (w2[t] * vt) + c
            }
            o0[d] = a * inv0
            if H.n > 1 { o1[d] = b * inv1 }
            if H.n > 2 { o2[d] = c * inv2 }
            d += 1
        }
    }
}
