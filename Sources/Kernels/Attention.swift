/// Sequences packed back to back in one token stream: segment s covers rows starts[s] ..< starts[s] + lengths[s]
/// and its positions restart at 0. Attention never crosses a segment boundary, so a batch of
/// different-length sequences needs no padding.
///
/// A segment may also be a tree: a shared prefix followed by branches laid one after the other
/// (`appendTree`). Each branch continues the prefix, as if it were the only one: its positions go on from
/// the prefix length and its rows attend to the prefix and to the branch's own earlier rows, never to
/// the branches before it. A preference pair runs its prompt once this way, with chosen and rejected as
/// two branches.
public struct Packing: Sendable {
    public private(set) var starts: [Int] = []
    public private(set) var lengths: [Int] = []
    /// Per segment: the shared prefix length and the start of every branch after the first (relative to
    /// the segment), or nil for a plain sequence.
    public private(set) var trees: [Tree?] = []

    public struct Tree: Sendable, Equatable {
        public var prefix: Int
        /// Starts of the branches after the first, relative to the segment, increasing.
        public var laterBranches: [Int]
        /// The columns row `i` (relative) must not see: the earlier branches, `prefix ..< branch start`.
        @inline(__always)
        public func hidden(row i: Int) -> Range<Int> {
            var start = prefix
            for b in laterBranches where b <= i { start = b }
            return prefix..<start
        }
    }
    /// Sum of lengths[s']^2 for s' < s: where segment s's attention matrices begin (times the head count).
    public private(set) var squareOffsets: [Int] = []
    /// Position of every row within its segment.
    public private(set) var positions: [Int32] = []
    public private(set) var tokens = 0
    public private(set) var squares = 0

    public init() {}
    public init(lengths: [Int]) { for l in lengths { append(length: l) } }

    /// `count` sequences of `length` tokens each (a [B, T] batch).
    public init(count: Int, length: Int) { self.init(lengths: Array(repeating: length, count: count)) }

    public mutating func removeAll() {
        starts.removeAll(keepingCapacity: true); lengths.removeAll(keepingCapacity: true)
        trees.removeAll(keepingCapacity: true)
        squareOffsets.removeAll(keepingCapacity: true); positions.removeAll(keepingCapacity: true)
        tokens = 0; squares = 0
    }

    public mutating func append(length: Int) {
        precondition(length > 0, "Packing: empty sequence")
        starts.append(tokens); lengths.append(length); squareOffsets.append(squares); trees.append(nil)
        for p in 0..<length { positions.append(Int32(p)) }
        tokens += length; squares += length * length
    }

    /// One segment of `prefix` shared rows followed by branches of the given lengths (each at least 1).
    public mutating func appendTree(prefix: Int, branches: [Int]) {
        precondition(prefix >= 0 && !branches.isEmpty && branches.allSatisfy { $0 > 0 }, "Packing: bad tree")
        let length = prefix + branches.reduce(0, +)
        starts.append(tokens); lengths.append(length); squareOffsets.append(squares)
        for p in 0..<prefix { positions.append(Int32(p)) }
        var later: [Int] = [], at = prefix
        for (b, n) in branches.enumerated() {
            if b > 0 { later.append(at) }
            for p in 0..<n { positions.append(Int32(prefix + p)) }
            at += n
        }
        trees.append(later.isEmpty ? nil : Tree(prefix: prefix, laterBranches: later))
        tokens += length; squares += length * length
    }

    public var count: Int { starts.count }
    public var maxLength: Int { lengths.max() ?? 0 }
}

/// Causal multi-head self-attention with grouped-query heads (head h reads kv head h / (heads / kvHeads)).
///
/// q, k and v are row-major views with their own row strides (they may be column ranges of one fused
/// qkv buffer); scores are scaled by 1/sqrt(headDim). Rows are processed in blocks of `block` so that
/// nothing above the causal diagonal is multiplied.
public enum Attention {
    public static let block = 64

    public struct Shape: Sendable {
        public var heads: Int, kvHeads: Int, headDim: Int
        public var qStride: Int, kvStride: Int, outStride: Int
        public init(heads: Int, kvHeads: Int, headDim: Int, qStride: Int, kvStride: Int, outStride: Int) {
            self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim
            self.qStride = qStride; self.kvStride = kvStride; self.outStride = outStride
        }
        public var scale: Float { 1 / Float(headDim).squareRoot() }
        /// Floats of `probs` that `forward` needs for a packing.
        public func probCount(_ packing: Packing) -> Int { heads * packing.squares }
        /// Floats of `scratch` that `backward` needs for a packing.
        public func scratchCount(_ packing: Packing) -> Int { kvHeads * packing.squares }
    }

    /// The work items of both passes, shared out over the threads: segment `s` and key/value head `g`, with
    /// the segment's first row, its length and the offset of the head's columns in a key or value row block.
    @inline(__always)
    static func eachGroup(_ shape: Shape, _ packing: Packing, _ body: (_ s: Int, _ g: Int, _ r0: Int, _ L: Int, _ kv: Int) -> Void) {
        Parallel.tasks(packing.count * shape.kvHeads) { task in
            let s = task / shape.kvHeads, g = task % shape.kvHeads, r0 = packing.starts[s]
            body(s, g, r0, packing.lengths[s], r0 * shape.kvStride + g * shape.headDim)
        }
    }

    /// out = softmax(q k^T * scale + causal mask) v for every segment and head; the probabilities are kept
    /// in `probs` (heads * sum L^2 floats) for the backward.
    public static func forward(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                               q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                               shape: Shape, packing: Packing) {
        let rep = shape.heads / shape.kvHeads, hd = shape.headDim, scale = shape.scale
        eachGroup(shape, packing) { s, g, r0, L, kv in
            let tree = packing.trees[s], kg = k + kv, vg = v + kv
            for h in g * rep ..< (g + 1) * rep {
                let P = probs + shape.heads * packing.squareOffsets[s] + h * L * L
                let qh = q + r0 * shape.qStride + h * hd
                let oh = out + r0 * shape.outStride + h * hd
                var i0 = 0
                while i0 < L {
                    let i1 = min(L, i0 + block)
                    Gemm.serial(transB: true, M: i1 - i0, N: i1, K: hd, alpha: scale,
                                A: qh + i0 * shape.qStride, lda: shape.qStride, B: kg, ldb: shape.kvStride,
                                C: P + i0 * L, ldc: L)
                    for i in i0..<i1 {
                        let row = P + i * L
                        if let hidden = tree?.hidden(row: i), !hidden.isEmpty {
                            softmax(row, visible: i + 1, hidden: hidden)
                        } else {
                            let m = VectorMath.max(row, i + 1)
                            let sum = VectorMath.expShiftSum(row, i + 1, shift: m)
                            VectorMath.scale(row, i + 1, by: 1 / sum)
                        }
                        if i + 1 < i1 { (row + i + 1).update(repeating: 0, count: i1 - i - 1) }
                    }
                    Gemm.serial(M: i1 - i0, N: hd, K: i1, A: P + i0 * L, lda: L, B: vg, ldb: shape.kvStride,
                                C: oh + i0 * shape.outStride, ldc: shape.outStride)
                    i0 = i1
                }
            }
        }
    }

    /// Softmax over row[0..<n] except the columns in `hidden`, which become 0 (so the backward, which
    /// only ever multiplies by the probabilities, needs no mask of its own).
    static func softmax(_ row: UnsafeMutablePointer<Float>, visible n: Int, hidden: Range<Int>) {
        let a = hidden.lowerBound, b = hidden.upperBound, tail = row + b
        var m = -Float.infinity
        if a > 0 { m = VectorMath.max(row, a) }
        if n > b { m = max(m, VectorMath.max(tail, n - b)) }
        var sum: Float = 0
        if a > 0 { sum += VectorMath.expShiftSum(row, a, shift: m) }
        if n > b { sum += VectorMath.expShiftSum(tail, n - b, shift: m) }
        if a > 0 { VectorMath.scale(row, a, by: 1 / sum) }
        if n > b { VectorMath.scale(tail, n - b, by: 1 / sum) }
        (row + a).update(repeating: 0, count: b - a)
    }

    /// Given dout, writes dq (overwritten) and dk, dv (overwritten: each kv head's rows are zeroed, then the
    /// heads that share it accumulate). `probs` must hold what `forward` left; `scratch` needs
    /// `shape.scratchCount(packing)` floats.
    public static func backward(dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                                dv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                probs: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                                q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                shape: Shape, packing: Packing) {
        let rep = shape.heads / shape.kvHeads, hd = shape.headDim, scale = shape.scale
        eachGroup(shape, packing) { s, g, r0, L, kv in
            let kg = k + kv, vg = v + kv, dkg = dk + kv, dvg = dv + kv
            let dS = scratch + shape.kvHeads * packing.squareOffsets[s] + g * L * L
            for r in 0..<L {
                (dkg + r * shape.kvStride).update(repeating: 0, count: hd)
                (dvg + r * shape.kvStride).update(repeating: 0, count: hd)
            }
            for h in g * rep ..< (g + 1) * rep {
                let P = probs + shape.heads * packing.squareOffsets[s] + h * L * L
                let qh = q + r0 * shape.qStride + h * hd
                let doh = dout + r0 * shape.outStride + h * hd
                let dqh = dq + r0 * shape.qStride + h * hd
                var i0 = 0
                while i0 < L {
                    let i1 = min(L, i0 + block), n = i1 - i0
                    let dOb = doh + i0 * shape.outStride
                    // dV[0:i1] += P[i0:i1, 0:i1]^T dO[i0:i1]
                    Gemm.serial(transA: true, M: i1, N: hd, K: n, A: P + i0 * L, lda: L,
                                B: dOb, ldb: shape.outStride, beta: 1, C: dvg, ldc: shape.kvStride)
                    // dP = dO V^T, then dS = P * (dP - rowsum(dP * P))
                    Gemm.serial(transB: true, M: n, N: i1, K: hd, A: dOb, lda: shape.outStride,
                                B: vg, ldb: shape.kvStride, C: dS + i0 * L, ldc: L)
                    for i in i0..<i1 {
                        let pr = P + i * L, dr = dS + i * L
                        let rowDot = VectorMath.dot(pr, dr, i + 1)
                        for j in 0...i { dr[j] = pr[j] * (dr[j] - rowDot) }
                        if i + 1 < i1 { (dr + i + 1).update(repeating: 0, count: i1 - i - 1) }
                    }
                    // dQ[i0:i1] = scale * dS K[0:i1];  dK[0:i1] += scale * dS^T Q[i0:i1]
                    Gemm.serial(M: n, N: hd, K: i1, alpha: scale, A: dS + i0 * L, lda: L, B: kg,
                                ldb: shape.kvStride, C: dqh + i0 * shape.qStride, ldc: shape.qStride)
                    Gemm.serial(transA: true, M: i1, N: hd, K: n, alpha: scale, A: dS + i0 * L, lda: L,
                                B: qh + i0 * shape.qStride, ldb: shape.qStride, beta: 1, C: dkg,
                                ldc: shape.kvStride)
                    i0 = i1
                }
            }
        }
    }
}
