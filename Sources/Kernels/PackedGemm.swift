/// A weight matrix ([outDim, inDim], Hugging Face layout) repacked for products with few rows: panels of
/// 16 output rows stored k-major ([k][16]), so a product streams the weights in one sequential pass and
/// each step loads two vectors of weights for six rows of input.
public final class PackedMatrix: @unchecked Sendable {
    public static let panel = 16
    public let outDim: Int
    public let inDim: Int
    let data: FloatBuffer
    /// The packed panels (for benchmarks that stream the same bytes).
    public var pointer: UnsafePointer<Float> { UnsafePointer(data.pointer) }

    public init(_ w: UnsafePointer<Float>, outDim: Int, inDim: Int) {
        self.outDim = outDim
        self.inDim = inDim
        let panels = (outDim + PackedMatrix.panel - 1) / PackedMatrix.panel
        data = FloatBuffer(count: panels * inDim * PackedMatrix.panel)
        let d = data.pointer
        Parallel.tasks(panels) { p in
            let dst = d + p * inDim * PackedMatrix.panel
            for j in 0..<PackedMatrix.panel where p * PackedMatrix.panel + j < outDim {
                let src = w + (p * PackedMatrix.panel + j) * inDim
                for k in 0..<inDim { dst[k * PackedMatrix.panel + j] = src[k] }
            }
        }
    }
}

import CBLAS

/// out[m, n] (+)= sum_k x[m, k] * w[n, k] with w packed. Every output element is one FMA chain over k in
/// order 0..<K, whatever the row count, the blocking or the threads: a row's result never depends on the
/// rows batched with it (generation stays reproducible across batch sizes).
public enum PackedGemm {
    typealias V8 = SIMD8<Float>

    public static func multiply(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, w: PackedMatrix,
                                rows M: Int, accumulate: Bool = false) {
        let N = w.outDim, K = w.inDim, P = PackedMatrix.panel
        if M == 0 || N == 0 { return }
        let panels = (N + P - 1) / P
        let base = w.data.pointer
        // Six-row tiles (prefill) run 16 wide where the CPU has AVX-512: the same bits, twice the width.
        let wide = autodidact_use_avx512() != 0
        // Each thread takes a contiguous run of panels, so it knows the next one and can fetch it from
        // memory while it computes on this one (spread over the tiles of a panel).
        Parallel.range(panels) { first, end in
            for p in first..<end {
                let panel = UnsafePointer(base + p * K * P)
                let next: UnsafePointer<Float>? = p + 1 < end ? UnsafePointer(base + (p + 1) * K * P) : nil
                let n0 = p * P, width = min(P, N - n0)
                // Rows in tiles of at most six, as even as possible (eight rows run as 4 + 4: a short tile
                // would leave FMA latency exposed).
                let tiles = (M + 5) / 6
                var m = 0
                for t in 0..<tiles {
                    let mc = M / tiles + (t < M % tiles ? 1 : 0)
                    // Tile t of T prefetches the t-th of T parts of the next panel, so memory stays busy
                    // while later tiles reuse this panel from cache.
                    let o = out + m * N + n0, xm = x + m * K
                    let from = t * K / tiles, pf = next.map { $0 + 16 * from }, pfLines = (t + 1) * K / tiles - from
                    // One specialised tile per row count, so a tile of four does 8 FMAs per k, not 12.
                    switch mc {
                    case 1: tile(Rows1.self, out: o, ldo: N, x: xm, K: K, panel: panel, width: width, accumulate: accumulate, prefetch: pf, prefetchLines: pfLines)
                    case 2: tile(Rows2.self, out: o, ldo: N, x: xm, K: K, panel: panel, width: width, accumulate: accumulate, prefetch: pf, prefetchLines: pfLines)
                    case 3: tile(Rows3.self, out: o, ldo: N, x: xm, K: K, panel: panel, width: width, accumulate: accumulate, prefetch: pf, prefetchLines: pfLines)
                    case 4: tile(Rows4.self, out: o, ldo: N, x: xm, K: K, panel: panel, width: width, accumulate: accumulate, prefetch: pf, prefetchLines: pfLines)
                    case 5: tile(Rows5.self, out: o, ldo: N, x: xm, K: K, panel: panel, width: width, accumulate: accumulate, prefetch: pf, prefetchLines: pfLines)
                    default:
                        if wide && width == 16 {
                            autodidact_tile6_avx512(o, N, xm, K, panel, accumulate ? 1 : 0, pf, pf == nil ? 0 : pfLines)
                        } else {
                            tile(Rows6.self, out: o, ldo: N, x: xm, K: K, panel: panel, width: width, accumulate: accumulate, prefetch: pf, prefetchLines: pfLines)
                        }
                    }
                    m += mc
                }
            }
        }
    }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> V8 { UnsafeRawPointer(p).loadUnaligned(as: V8.self) }

    protocol RowCount { static var n: Int { get } }
    enum Rows1: RowCount { static var n: Int { 1 } }
    enum Rows2: RowCount { static var n: Int { 2 } }
    enum Rows3: RowCount { static var n: Int { 3 } }
    enum Rows4: RowCount { static var n: Int { 4 } }
    enum Rows5: RowCount { static var n: Int { 5 } }
    enum Rows6: RowCount { static var n: Int { 6 } }

    /// R.n (1...6) rows x 16 columns. The row count is a type so that each count is compiled on its own:
    /// accumulators of rows beyond it are never used and their FMAs are removed.
    @inline(never)
    static func tile<R: RowCount>(_: R.Type, out: UnsafeMutablePointer<Float>, ldo: Int, x: UnsafePointer<Float>, K: Int,
                                  panel: UnsafePointer<Float>, width: Int, accumulate: Bool,
                                  prefetch: UnsafePointer<Float>?, prefetchLines: Int) {
        let mc = R.n
        let x0 = x, x1 = x + min(1, mc - 1) * K, x2 = x + min(2, mc - 1) * K
        let x3 = x + min(3, mc - 1) * K, x4 = x + min(4, mc - 1) * K, x5 = x + min(5, mc - 1) * K
        var c00 = V8(), c01 = V8(), c10 = V8(), c11 = V8(), c20 = V8(), c21 = V8()
        var c30 = V8(), c31 = V8(), c40 = V8(), c41 = V8(), c50 = V8(), c51 = V8()
        var wp = panel
        let pf = prefetch ?? panel, pfLines = prefetch == nil ? 0 : prefetchLines
        for k in 0..<K {
            if k < pfLines { autodidact_prefetch_l2(pf + 16 * k) }
            let w0 = load(wp), w1 = load(wp + 8)
            var b = V8(repeating: x0[k]); c00 = c00.addingProduct(b, w0); c01 = c01.addingProduct(b, w1)
            b = V8(repeating: x1[k]); c10 = c10.addingProduct(b, w0); c11 = c11.addingProduct(b, w1)
            b = V8(repeating: x2[k]); c20 = c20.addingProduct(b, w0); c21 = c21.addingProduct(b, w1)
            b = V8(repeating: x3[k]); c30 = c30.addingProduct(b, w0); c31 = c31.addingProduct(b, w1)
            b = V8(repeating: x4[k]); c40 = c40.addingProduct(b, w0); c41 = c41.addingProduct(b, w1)
            b = V8(repeating: x5[k]); c50 = c50.addingProduct(b, w0); c51 = c51.addingProduct(b, w1)
            wp += 16
        }
        @inline(__always) func put(_ i: Int, _ lo: V8, _ hi: V8) {
            guard i < mc else { return }
            let o = out + i * ldo
            if width == 16 {
                if accumulate {
                    store(load(o) + lo, o); store(load(o + 8) + hi, o + 8)
                } else {
                    store(lo, o); store(hi, o + 8)
                }
            } else {
                for j in 0..<width {
                    let v = j < 8 ? lo[j] : hi[j - 8]
                    o[j] = accumulate ? o[j] + v : v
                }
            }
        }
        put(0, c00, c01); put(1, c10, c11); put(2, c20, c21); put(3, c30, c31); put(4, c40, c41); put(5, c50, c51)
    }

    @inline(__always)
    static func store(_ v: V8, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V8.self) }
}
