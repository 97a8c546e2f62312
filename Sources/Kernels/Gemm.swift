import CBLAS

/// Row-major matrix products: `C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C`.
///
/// `transA` / `transB` say whether A is stored as [K,M] / B as [N,K]. `lda`, `ldb`, `ldc` are row strides
/// of the matrices as stored, so a head's slice of a wider activation can be used in place.
public enum Gemm {
    /// Products smaller than this many multiply-adds are one call.
    public static let parallelThreshold = 1 << 18
    /// The OpenBLAS kernel family chosen for this CPU (or by `OPENBLAS_CORETYPE`), e.g. "Haswell": results
    /// are the same bits at any thread count, but another kernel family rounds differently.
    public static var kernel: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }
    /// About this many multiply-adds per part of a larger product, and parts at least `minimumPart` wide.
    static let workPerPart = 1 << 20
    static let minimumPart = 128

    /// How a product is cut into parts: along the larger of M and N, at multiples of 16, into a number of
    /// parts that is a function of the shape alone. The thread count only decides who computes which
    /// part, never where the cuts fall, so every element comes out of the same OpenBLAS call (same shape,
    /// same place in it) at any thread count. That matters: OpenBLAS's Haswell and Zen sgemm kernels
    /// round an element differently depending on the shape of the call it is computed in (measured:
    /// 137 of 156 training-shaped products differed when cut in two), so a split that followed the thread
    /// count made training depend on it.
    public struct Plan: Equatable, Sendable {
        public let alongN: Bool
        /// The length of the split dimension (N when `alongN`, else M).
        public let extent: Int
        public let parts: Int
        /// Part p covers bound(p)..<bound(p + 1) of the split dimension.
        @inline(__always)
        public func bound(_ p: Int) -> Int { min(extent, (extent + 15) / 16 * p / parts * 16) }
    }

    public static func plan(M: Int, N: Int, K: Int) -> Plan {
        let alongN = N >= M
        let extent = alongN ? N : M
        let work = M * N * K
        if work < parallelThreshold { return Plan(alongN: alongN, extent: extent, parts: 1) }
        let parts = max(1, min(work / workPerPart, extent / minimumPart, (extent + 15) / 16))
        return Plan(alongN: alongN, extent: extent, parts: parts)
    }

    /// OpenBLAS `cblas_sgemm`, cut into parts by `plan` (the shape alone) that `Parallel.threads` share.
    public static func sgemm(transA: Bool = false, transB: Bool = false, M: Int, N: Int, K: Int,
                             alpha: Float = 1, A: UnsafePointer<Float>, lda: Int,
                             B: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, C: UnsafeMutablePointer<Float>, ldc: Int) {
        if M == 0 || N == 0 { return }
        let plan = plan(M: M, N: N, K: K)
        if plan.parts == 1 {
            serial(transA: transA, transB: transB, M: M, N: N, K: K, alpha: alpha, A: A, lda: lda,
                   B: B, ldb: ldb, beta: beta, C: C, ldc: ldc)
            return
        }
        Parallel.tasks(plan.parts) { p in
            let lo = plan.bound(p), hi = plan.bound(p + 1)
            if hi <= lo { return }
            if plan.alongN {
                serial(transA: transA, transB: transB, M: M, N: hi - lo, K: K, alpha: alpha, A: A, lda: lda,
                       B: transB ? B + lo * ldb : B + lo, ldb: ldb, beta: beta, C: C + lo, ldc: ldc)
            } else {
                serial(transA: transA, transB: transB, M: hi - lo, N: N, K: K, alpha: alpha,
                       A: transA ? A + lo : A + lo * lda, lda: lda, B: B, ldb: ldb, beta: beta,
                       C: C + lo * ldc, ldc: ldc)
            }
        }
    }

    /// One `cblas_sgemm` call on the calling thread (OpenBLAS itself is kept single-threaded).
    @inline(__always)
    public static func serial(transA: Bool = false, transB: Bool = false, M: Int, N: Int, K: Int,
                              alpha: Float = 1, A: UnsafePointer<Float>, lda: Int,
                              B: UnsafePointer<Float>, ldb: Int,
                              beta: Float = 0, C: UnsafeMutablePointer<Float>, ldc: Int) {
        if M == 0 || N == 0 { return }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(M), Int32(N), Int32(K), alpha, A, Int32(lda), B, Int32(ldb), beta, C, Int32(ldc))
    }

    /// The obvious triple loop, accumulating in Double: the reference the fast path is tested against.
    public static func naive(transA: Bool = false, transB: Bool = false, M: Int, N: Int, K: Int,
                             alpha: Float = 1, A: UnsafePointer<Float>, lda: Int,
                             B: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, C: UnsafeMutablePointer<Float>, ldc: Int) {
        for i in 0..<M {
            for j in 0..<N {
                var acc = 0.0
                for k in 0..<K {
                    let a = transA ? A[k * lda + i] : A[i * lda + k]
                    let b = transB ? B[j * ldb + k] : B[k * ldb + j]
                    acc += Double(a) * Double(b)
                }
                let prior = beta == 0 ? 0 : Double(beta) * Double(C[i * ldc + j])
                C[i * ldc + j] = Float(Double(alpha) * acc + prior)
            }
        }
    }

    /// out[rows, outDim] = x[rows, inDim] * W^T with W stored [outDim, inDim] (a Hugging Face Linear).
    @inline(__always)
    public static func linear(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                              _ w: UnsafePointer<Float>, rows: Int, inDim: Int, outDim: Int,
                              accumulate: Bool = false) {
        sgemm(transB: true, M: rows, N: outDim, K: inDim, A: x, lda: inDim, B: w, ldb: inDim,
              beta: accumulate ? 1 : 0, C: out, ldc: outDim)
    }

    /// Backward of `linear`: dx (+)= dout * W, and dW += dout^T * x (skipped without `dw`: a frozen weight).
    @inline(__always)
    public static func linearBackward(dx: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>?,
                                      dout: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                      w: UnsafePointer<Float>, rows: Int, inDim: Int, outDim: Int,
                                      accumulateDx: Bool) {
        if let dx {
            sgemm(M: rows, N: inDim, K: outDim, A: dout, lda: outDim, B: w, ldb: inDim,
                  beta: accumulateDx ? 1 : 0, C: dx, ldc: inDim)
        }
        if let dw {
            sgemm(transA: true, M: outDim, N: inDim, K: rows, A: dout, lda: outDim, B: x, ldb: inDim,
                  beta: 1, C: dw, ldc: inDim)
        }
    }
}
