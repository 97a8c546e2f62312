import Foundation

/// A counter-based random stream: the state is a 64-bit counter run through the SplitMix64 finaliser, so
/// a stream is fully determined by its key and independent streams are derived by hashing keys together
/// (`RandomStream(key: seed, round, i, j)`), whatever order the work runs in.
public struct RandomStream: Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = RandomStream.mix(seed ^ 0x6A09E667F3BCC909) }

    /// A stream for a tuple of keys (run seed, round, item, sample...).
    public init(key: UInt64...) {
        var h: UInt64 = 0x243F6A8885A308D3
        for k in key { h = RandomStream.mix(h ^ RandomStream.mix(k &+ 0x9E3779B97F4A7C15)) }
        state = h
    }

    /// The stream of this one's key tuple extended by `key`, for an unused stream:
    /// `RandomStream(key: a, b).keyed(c, d)` is `RandomStream(key: a, b, c, d)`.
    public func keyed(_ key: UInt64...) -> RandomStream {
        var s = self
        for k in key { s.state = RandomStream.mix(s.state ^ RandomStream.mix(k &+ 0x9E3779B97F4A7C15)) }
        return s
    }

    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        return RandomStream.mix(state)
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Standard normal (Box-Muller).
    public mutating func normal() -> Double {
        let u1 = max(uniform(), 1e-300), u2 = uniform()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    /// Uniform integer in 0..<n.
    public mutating func int(below n: Int) -> Int {
        precondition(n > 0)
        return Int(next() % UInt64(n))
    }

    /// Fisher-Yates shuffle in place, drawing from this stream (from the last element down).
    public mutating func shuffle<T>(_ a: inout [T]) {
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, int(below: i + 1)) }
    }
}
