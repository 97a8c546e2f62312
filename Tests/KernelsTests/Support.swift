import Foundation
import Kernels

/// Deterministic generator for test data (SplitMix64).
struct TestRNG {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
    mutating func normal(_ scale: Float = 1) -> Float {
        let u1 = max(uniform(), 1e-7), u2 = uniform()
        return scale * (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
    mutating func buffer(_ n: Int, scale: Float = 1) -> FloatBuffer {
        let b = FloatBuffer(count: n)
        for i in 0..<n { b[i] = normal(scale) }
        return b
    }
    mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

func dotDouble(_ a: FloatBuffer, _ b: FloatBuffer) -> Double {
    var s = 0.0
    for i in 0..<a.count { s += Double(a[i]) * Double(b[i]) }
    return s
}

/// Central finite differences of `loss` with respect to up to `samples` entries of `x`, compared with the
/// analytic gradient. Returns the worst |fd - analytic| / (atol + rtol |analytic|): <= 1 passes.
func finiteDifferenceRatio(x: FloatBuffer, analytic: FloatBuffer, samples: Int = 48, eps: Float = 1e-2,
                           rtol: Double = 2e-2, atol: Double = 2e-3, seed: UInt64 = 7,
                           loss: () -> Double) -> Double {
    var rng = TestRNG(seed)
    var worst = 0.0
    let indices = x.count <= samples ? Array(0..<x.count) : (0..<samples).map { _ in rng.int(x.count) }
    for i in indices {
        let saved = x[i]
        x[i] = saved + eps
        let lp = loss()
        x[i] = saved - eps
        let lm = loss()
        x[i] = saved
        let fd = (lp - lm) / (2 * Double(eps))
        let a = Double(analytic[i])
        worst = max(worst, abs(fd - a) / (atol + rtol * abs(a)))
    }
    return worst
}

/// Runs `body` once with one thread and once with two, restoring the setting.
func withThreadCounts(_ body: (Int) throws -> Void) rethrows {
    let saved = Parallel.threads
    defer { Parallel.threads = saved }
    for t in [1, 2] {
        Parallel.threads = t
        try body(t)
    }
}
