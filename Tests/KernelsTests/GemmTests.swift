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
