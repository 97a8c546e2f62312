/// Small vectorised helpers the kernels share: a SIMD `exp`, dot products and reductions.
///
/// Reductions accumulate in 16 lanes (the compiler will not reassociate a scalar float loop on its own).
public enum VectorMath {
    public typealias V8 = SIMD8<Float>

    /// e^x for eight lanes: Cephes' single-precision polynomial after range reduction x = n ln2 + r.
    /// Relative error about 2 ulp over [-87, 88]; inputs are clamped to [-87.3, 88.3].
    /// n is rounded with the 1.5 * 2^23 trick (its bits then hold n), so everything stays in vector
    /// registers: no float-to-int conversion instruction is needed.
    @inline(__always)
    public static func exp(_ xIn: V8) -> V8 {
        var x = xIn
        x.replace(with: V8(repeating: -87.33654), where: x .< -87.33654)
        x.replace(with: V8(repeating: 88.3), where: x .> 88.3)
        let magic = V8(repeating: 12582912)  // 1.5 * 2^23
        let shifted = x * 1.44269504088896341 + magic
        let n = shifted - magic
        var r = x - n * 0.693359375
        r = r - n * (-2.12194440e-4)
        var p = V8(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        p = p * (r * r) + r + 1
        // bits(shifted) = 0x4B400000 + n; 2^n has exponent field n + 127.
        let bits = (unsafeBitCast(shifted, to: SIMD8<UInt32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        return p * unsafeBitCast(bits, to: V8.self)
    }

    /// e^x for one value, through the same polynomial (so scalar tails round like vector bodies).
    @inline(__always)
    public static func exp(_ x: Float) -> Float { exp(V8(repeating: x))[0] }

    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
        var i = 0
        while i + 32 <= n {
            acc0 += load16(a + i) * load16(b + i)
            acc1 += load16(a + i + 16) * load16(b + i + 16)
            i += 32
        }
        while i + 16 <= n { acc0 += load16(a + i) * load16(b + i); i += 16 }
        var s = (acc0 + acc1).sum()
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }

    @inline(__always)
    public static func sumSquares(_ a: UnsafePointer<Float>, _ n: Int) -> Float { dot(a, a, n) }

    @inline(__always)
    public static func sumSquaresDouble(_ a: UnsafePointer<Float>, _ n: Int) -> Double {
        var total = 0.0
        var i = 0
        while i < n {
            let m = min(4096, n - i)
            total += Double(dot(a + i, a + i, m))
            i += m
        }
        return total
    }

    @inline(__always)
    public static func max(_ a: UnsafePointer<Float>, _ n: Int) -> Float {
        var i = 0
        var m = SIMD16<Float>(repeating: -.infinity)
        while i + 16 <= n {
            let v = load16(a + i)
            m.replace(with: v, where: v .> m)
            i += 16
        }
        var s = m.max()
        while i < n { s = Swift.max(s, a[i]); i += 1 }
        return s
    }

    /// a[i] = exp(a[i] - shift); returns the sum of the new values.
    @inline(__always)
    public static func expShiftSum(_ a: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
        expShiftSum(a, n, shift: shift, into: a)
    }

    /// Sum of exp(a[i] - shift) without writing.
    @inline(__always)
    public static func expShiftSumReadOnly(_ a: UnsafePointer<Float>, _ n: Int, shift: Float) -> Float {
        expShiftSum(a, n, shift: shift, into: nil)
    }

    /// Sum of exp(a[i] - shift), each value also written to `out` when given (inlined, so the test on `out`
    /// is decided at compile time in each caller).
    @inline(__always)
    static func expShiftSum(_ a: UnsafePointer<Float>, _ n: Int, shift: Float, into out: UnsafeMutablePointer<Float>?) -> Float {
        var acc = V8()
        var i = 0
        let s = V8(repeating: shift)
        while i + 8 <= n {
            let e = exp(load8(a + i) - s)
            if let out { store8(e, out + i) }
            acc += e
            i += 8
        }
        var total = acc.sum()
        while i < n { let e = exp(a[i] - shift); out?[i] = e; total += e; i += 1 }
        return total
    }

    @inline(__always)
    public static func scale(_ a: UnsafeMutablePointer<Float>, _ n: Int, by s: Float) {
        var i = 0
        while i + 16 <= n { store16(load16(a + i) * s, a + i); i += 16 }
        while i < n { a[i] *= s; i += 1 }
    }

    @inline(__always) public static func load8(_ p: UnsafePointer<Float>) -> V8 {
        UnsafeRawPointer(p).loadUnaligned(as: V8.self)
    }
    @inline(__always) public static func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }
    @inline(__always) public static func store8(_ v: V8, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V8.self)
    }
    @inline(__always) public static func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
    }
}
