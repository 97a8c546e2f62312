import Testing
import Foundation
import Kernels
import TestSupport

/// The decoding product against a double-precision naive product, for every row count a tile can have,
/// rows split over several tiles, a partial last panel, and both writing and accumulating.
@Suite struct PackedGemmTests {
    @Test func matchesTheNaiveProduct() {
        var rng = TestRNG(31)
        let K = 77, N = 45  // the last panel is 13 columns wide
        let w = rng.buffer(N * K), packed = PackedMatrix(w.pointer, outDim: N, inDim: K)
        for M in [1, 2, 3, 5, 6, 7, 8, 9, 13, 17] {
            let x = rng.buffer(M * K), start = rng.buffer(M * N)
            for accumulate in [false, true] {
                let out = FloatBuffer(count: M * N)
                out.copy(from: start)
                PackedGemm.multiply(out: out.pointer, x: x.pointer, w: packed, rows: M, accumulate: accumulate)
                for m in 0..<M {
                    for n in 0..<N {
                        var s = accumulate ? Double(start[m * N + n]) : 0
                        for k in 0..<K { s += Double(x[m * K + k]) * Double(w[n * K + k]) }
                        #expect(abs(Double(out[m * N + n]) - s) < 1e-4 * (1 + abs(s)), "M \(M) n \(n)")
                    }
                }
            }
        }
    }
}
