import Testing
import Kernels
import TestSupport

@Suite(.serialized) struct GemmTests {
    @Test func sgemmMatchesNaiveForEveryTransposeStrideAndThreadCount() {
        var rng = TestRNG(1)
        for (M, N, K) in [(3, 5, 7), (37, 129, 65), (130, 70, 300), (64, 513, 96)] {
            for tA in [false, true] {
                for tB in [false, true] {
                    // Row strides wider than the matrices, as when a head is a column slice.
                    let lda = (tA ? M : K) + 3, ldb = (tB ? K : N) + 5, ldc = N + 2
                    let A = rng.buffer((tA ? K : M) * lda), B = rng.buffer((tB ? N : K) * ldb)
                    let C0 = rng.buffer(M * ldc)
                    withThreadCounts { _ in
                        let fast = FloatBuffer(count: C0.count), ref = FloatBuffer(count: C0.count)
                        fast.copy(from: C0); ref.copy(from: C0)
                        Gemm.sgemm(transA: tA, transB: tB, M: M, N: N, K: K, alpha: 0.7, A: A.pointer, lda: lda,
                                   B: B.pointer, ldb: ldb, beta: 0.3, C: fast.pointer, ldc: ldc)
                        Gemm.naive(transA: tA, transB: tB, M: M, N: N, K: K, alpha: 0.7, A: A.pointer, lda: lda,
                                   B: B.pointer, ldb: ldb, beta: 0.3, C: ref.pointer, ldc: ldc)
                        var worst: Float = 0
                        for i in 0..<M { for j in 0..<N {
                            worst = max(worst, abs(fast[i * ldc + j] - ref[i * ldc + j]))
                        } }
                        #expect(worst < 1e-4 * Float(K).squareRoot(), "M\(M) N\(N) K\(K) tA\(tA) tB\(tB): \(worst)")
                        // Padding columns beyond N are never touched.
                        for i in 0..<M { for j in N..<ldc { #expect(fast[i * ldc + j] == C0[i * ldc + j]) } }
                    }
                }
            }
        }
    }

    /// Every training-shaped product (forward, input gradient, weight gradient of a linear layer) gives the
    /// same bits at 1, 2 and 3 threads, and equals one OpenBLAS call per part of its plan: the cuts are a
    /// function of the shape alone. (Cutting at the thread count instead differs here under OpenBLAS's
    /// Haswell kernels, the ones an AVX2 machine gets.)
    @Test func productsAreTheSameBitsAtEveryThreadCount() {
        var rng = TestRNG(11)
        for (rows, inDim, outDim) in [(1024, 128, 256), (300, 128, 704), (640, 352, 128), (1280, 64, 259), (513, 256, 768)] {
            let x = rng.buffer(rows * inDim), w = rng.buffer(outDim * inDim, scale: 0.1), d = rng.buffer(rows * outDim)
            // (transA, transB, M, N, K, A, B, beta): y = x W^T, dx = d W, dW += d^T x.
            let products: [(Bool, Bool, Int, Int, Int, FloatBuffer, FloatBuffer, Float)] = [
                (false, true, rows, outDim, inDim, x, w, 0), (false, false, rows, inDim, outDim, d, w, 0),
                (true, false, outDim, inDim, rows, d, x, 1)]
            for (tA, tB, M, N, K, A, B, beta) in products {
                let lda = tA ? M : K, ldb = tB ? K : N
                let start = rng.buffer(M * N)
                var results: [[Float]] = []
                withThreadCounts { _ in
                    let C = FloatBuffer(count: M * N)
                    C.copy(from: start)
                    Gemm.sgemm(transA: tA, transB: tB, M: M, N: N, K: K, A: A.pointer, lda: lda, B: B.pointer, ldb: ldb,
                               beta: beta, C: C.pointer, ldc: N)
                    results.append((0..<C.count).map { C[$0] })
                }
                let plan = Gemm.plan(M: M, N: N, K: K)
                #expect(plan.parts > 1, "M\(M) N\(N) K\(K) should be cut")
                #expect(plan.bound(0) == 0 && plan.bound(plan.parts) == plan.extent)
                for p in 0..<plan.parts { #expect(plan.bound(p) % 16 == 0 && plan.bound(p) < plan.bound(p + 1)) }
                let byPart = FloatBuffer(count: M * N)
                byPart.copy(from: start)
                for p in 0..<plan.parts {
                    let lo = plan.bound(p), hi = plan.bound(p + 1)
                    if plan.alongN {
                        Gemm.serial(transA: tA, transB: tB, M: M, N: hi - lo, K: K, A: A.pointer, lda: lda,
                                    B: tB ? B.pointer + lo * ldb : B.pointer + lo, ldb: ldb, beta: beta, C: byPart.pointer + lo, ldc: N)
                    } else {
                        Gemm.serial(transA: tA, transB: tB, M: hi - lo, N: N, K: K, A: tA ? A.pointer + lo : A.pointer + lo * lda, lda: lda,
                                    B: B.pointer, ldb: ldb, beta: beta, C: byPart.pointer + lo * N, ldc: N)
                    }
                }
                let reference = (0..<byPart.count).map { byPart[$0] }
                for (t, r) in results.enumerated() {
                    let first = r.indices.first { r[$0].bitPattern != reference[$0].bitPattern }
                    #expect(first == nil, "M\(M) N\(N) K\(K) tA\(tA): \(t + 1) thread(s) differ from the planned parts at \(first ?? -1)")
                }
            }
        }
    }

    @Test func linearBackwardMatchesFiniteDifferences() {
        var rng = TestRNG(2)
        let rows = 6, inDim = 10, outDim = 7
        let x = rng.buffer(rows * inDim), w = rng.buffer(outDim * inDim, scale: 0.3)
        let cot = rng.buffer(rows * outDim)
        let out = FloatBuffer(count: rows * outDim)
        func loss() -> Double {
            Gemm.linear(out.pointer, x.pointer, w.pointer, rows: rows, inDim: inDim, outDim: outDim)
            return dotDouble(out, cot)
        }
        let dx = FloatBuffer(count: x.count), dw = FloatBuffer(count: w.count)
        Gemm.linearBackward(dx: dx.pointer, dw: dw.pointer, dout: cot.pointer, x: x.pointer, w: w.pointer,
                            rows: rows, inDim: inDim, outDim: outDim, accumulateDx: false)
        #expect(finiteDifferenceRatio(x: x, analytic: dx, loss: loss) <= 1)
        #expect(finiteDifferenceRatio(x: w, analytic: dw, loss: loss) <= 1)
    }
}
