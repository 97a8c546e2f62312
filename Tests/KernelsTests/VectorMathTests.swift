import Testing
import Foundation
import Kernels
import TestSupport

struct VectorMathTests {
    @Test func simdExpIsWithinFourUlpOfLibm() {
        var worst: Double = 0
        var x: Float = -87
        while x < 87.2 {
            let v = VectorMath.exp(VectorMath.V8(repeating: x) + VectorMath.V8(0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7))
            for lane in 0..<8 {
                let xi = x + Float(lane) * 0.1
                let ref = Foundation.exp(Double(xi))
                worst = max(worst, abs(Double(v[lane]) - ref) / ref)
            }
            x += 0.173
        }
        #expect(worst < 4 * Double(Float.ulpOfOne))
        #expect(VectorMath.exp(Float(0)) == 1)
    }

    @Test func reductionsMatchDoubleSums() {
        var rng = TestRNG(3)
        for n in [1, 15, 16, 33, 1000] {
            let a = rng.buffer(n), b = rng.buffer(n)
            let ref = dotDouble(a, b)
            #expect(abs(Double(VectorMath.dot(a.pointer, b.pointer, n)) - ref) < 1e-4 * Double(n).squareRoot())
            #expect(VectorMath.max(a.pointer, n) == a.array.max()!)
            let shifted = FloatBuffer(count: n); shifted.copy(from: a)
            let m = a.array.max()!
            let s = VectorMath.expShiftSum(shifted.pointer, n, shift: m)
            let refSum = a.array.reduce(0.0) { $0 + Foundation.exp(Double($1 - m)) }
            #expect(abs(Double(s) - refSum) < 1e-5 * refSum)
        }
    }
}

@Suite struct RandomStreamTests {
    /// Extending a stream's key gives the stream of the longer key, draw for draw.
    @Test func aKeyedStreamIsTheStreamOfTheLongerKey() {
        var a = RandomStream(key: 7, 3).keyed(11, 0xC0), b = RandomStream(key: 7, 3, 11, 0xC0)
        #expect((0..<16).map { _ in a.next() } == (0..<16).map { _ in b.next() })
        var c = RandomStream(key: 7, 3).keyed(12, 0xC0), d = RandomStream(key: 7, 3, 11, 0xC0)
        #expect(c.next() != d.next())
    }
}
