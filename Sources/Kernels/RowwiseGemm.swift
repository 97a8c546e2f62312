import CBLAS

/// out[m, n] (+)= sum_k x[m, k] * w[n, k] for weights in Hugging Face layout ([outDim, inDim]), streaming
/// the weights once per call without packing them.
///
/// Made for decoding, where x has a handful of rows and OpenBLAS would spend more time packing the
/// weight matrix than multiplying. Each output element is computed in one fixed order (8-lane FMA chain
/// over k, lane sum, then the k tail), whatever the number of rows, the blocking or the thread count: a
/// row's result never depends on the rows batched with it, which keeps generation reproducible across
/// batch sizes.
public enum RowwiseGemm {
    typealias V8 = SIMD8<Float>
    /// Weight rows per task.
    static let chunk = 64

    public static func multiply(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                                rows M: Int, inDim K: Int, outDim N: Int, accumulate: Bool = false) {
        if M == 0 || N == 0 { return }
        let tasks = (N + chunk - 1) / chunk
        Parallel.tasks(tasks) { t in
            let n0 = t * chunk, n1 = min(N, n0 + chunk)
            var m = 0
            if M == 1 {
                // One row: four weight rows at a time (the bandwidth-bound case of decoding one sequence).
                var n = n0
                while n + 4 <= n1 {
                    single4(out: out + n, x: x, w: w + n * K, K: K, accumulate: accumulate,
                            prefetch: n + 12 <= N ? w + (n + 8) * K : nil)
                    n += 4
                }
                while n < n1 {
                    block(out: out + n, ldo: N, x: x, w: w + n * K, K: K, mc: 1, nc: 1, accumulate: accumulate)
                    n += 1
                }
                return
            }
            // Tiles of up to 16 input rows: each pair of weight rows is used for the whole tile while it
            // is in L1, and the tile stays in cache across the task's weight rows.
            while m < M {
                let m1 = min(M, m + 16)
                var n = n0
                while n < n1 {
                    let nc = min(2, n1 - n)
                    var i = m
                    while i < m1 {
                        let mc = min(4, m1 - i)
                        // The first pass over a weight pair also asks for the pair eight rows on.
                        let ahead = i == m && n + 10 <= N ? w + (n + 8) * K : nil
                        block(out: out + i * N + n, ldo: N, x: x + i * K, w: w + n * K, K: K, mc: mc, nc: nc,
                              accumulate: accumulate, prefetch: ahead)
                        i += mc
                    }
                    n += nc
                }
                m = m1
            }
        }
    }

    /// One input row against four weight rows; the same per-element arithmetic as `block`.
    @inline(__always)
    static func single4(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>, K: Int,
                        accumulate: Bool, prefetch: UnsafePointer<Float>? = nil) {
        let w0 = w, w1 = w + K, w2 = w + 2 * K, w3 = w + 3 * K
        var a0 = V8(), a1 = V8(), a2 = V8(), a3 = V8()
        var k = 0
        while k + 8 <= K {
            if let pf = prefetch, k & 15 == 0 {
                autodidact_prefetch(pf + k); autodidact_prefetch(pf + K + k)
                autodidact_prefetch(pf + 2 * K + k); autodidact_prefetch(pf + 3 * K + k)
            }
            let v = load(x + k)
            a0 = a0.addingProduct(v, load(w0 + k)); a1 = a1.addingProduct(v, load(w1 + k))
            a2 = a2.addingProduct(v, load(w2 + k)); a3 = a3.addingProduct(v, load(w3 + k))
            k += 8
        }
        var r = (a0.sum(), a1.sum(), a2.sum(), a3.sum())
        while k < K {
            r.0 += x[k] * w0[k]; r.1 += x[k] * w1[k]; r.2 += x[k] * w2[k]; r.3 += x[k] * w3[k]
            k += 1
        }
        if accumulate {
            out[0] += r.0; out[1] += r.1; out[2] += r.2; out[3] += r.3
        } else {
            out[0] = r.0; out[1] = r.1; out[2] = r.2; out[3] = r.3
        }
    }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> V8 { UnsafeRawPointer(p).loadUnaligned(as: V8.self) }

    /// An mc x nc (<= 4 x 2) block of outputs. Unused accumulators compute on a repeated row and are
    /// discarded, so every element takes the same path.
    @inline(__always)
    static func block(out: UnsafeMutablePointer<Float>, ldo: Int, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                      K: Int, mc: Int, nc: Int, accumulate: Bool, prefetch: UnsafePointer<Float>? = nil) {
        let x0 = x, x1 = x + (mc > 1 ? K : 0), x2 = x + (mc > 2 ? 2 * K : 0), x3 = x + (mc > 3 ? 3 * K : 0)
        let w0 = w, w1 = w + (nc > 1 ? K : 0)
        var a00 = V8(), a01 = V8(), a10 = V8(), a11 = V8(), a20 = V8(), a21 = V8(), a30 = V8(), a31 = V8()
        var k = 0
        while k + 8 <= K {
            if let pf = prefetch, k & 15 == 0 { autodidact_prefetch(pf + k); autodidact_prefetch(pf + K + k) }
            let b0 = load(w0 + k), b1 = load(w1 + k)
            let v0 = load(x0 + k)
            a00 = a00.addingProduct(v0, b0); a01 = a01.addingProduct(v0, b1)
            let v1 = load(x1 + k)
            a10 = a10.addingProduct(v1, b0); a11 = a11.addingProduct(v1, b1)
            let v2 = load(x2 + k)
            a20 = a20.addingProduct(v2, b0); a21 = a21.addingProduct(v2, b1)
            let v3 = load(x3 + k)
            a30 = a30.addingProduct(v3, b0); a31 = a31.addingProduct(v3, b1)
            k += 8
        }
        var r = (a00.sum(), a01.sum(), a10.sum(), a11.sum(), a20.sum(), a21.sum(), a30.sum(), a31.sum())
        while k < K {
            r.0 += x0[k] * w0[k]; r.1 += x0[k] * w1[k]; r.2 += x1[k] * w0[k]; r.3 += x1[k] * w1[k]
            r.4 += x2[k] * w0[k]; r.5 += x2[k] * w1[k]; r.6 += x3[k] * w0[k]; r.7 += x3[k] * w1[k]
            k += 1
        }
        func put(_ i: Int, _ j: Int, _ v: Float) {
            if i < mc && j < nc {
                let p = out + i * ldo + j
                p.pointee = accumulate ? p.pointee + v : v
            }
        }
        put(0, 0, r.0); put(0, 1, r.1); put(1, 0, r.2); put(1, 1, r.3)
        put(2, 0, r.4); put(2, 1, r.5); put(3, 0, r.6); put(3, 1, r.7)
    }
}
