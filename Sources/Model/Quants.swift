/// The dequantisation of one block of each GGML block type, written to give the bits gguf-py's
/// `quants.dequantize` gives (float32 arithmetic in the same order: the block's scales multiplied first,
/// then each quantised value, then the minimum subtracted or added). K-quant blocks hold 256 values.
enum Quants {
    static func block(_ type: GGUFFile.TensorType, _ q: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        switch type {
        case .q8_0:
            let d = half(q)
            for j in 0..<32 { y[j] = Float(Int8(bitPattern: q[2 + j])) * d }
        case .q4_0:
            let d = half(q)
            for j in 0..<16 {
                y[j] = Float(Int(q[2 + j] & 0x0f) - 8) * d
                y[j + 16] = Float(Int(q[2 + j] >> 4) - 8) * d
            }
        case .q4_1:
            let d = half(q), m = half(q + 2)
            for j in 0..<16 {
                y[j] = Float(q[4 + j] & 0x0f) * d + m
                y[j + 16] = Float(q[4 + j] >> 4) * d + m
            }
        case .q5_0:
            let d = half(q), qh = u32(q + 2)
            for j in 0..<32 { y[j] = Float(fiveBit(q + 6, qh, j) - 16) * d }
        case .q5_1:
            let d = half(q), m = half(q + 2), qh = u32(q + 4)
            for j in 0..<32 { y[j] = Float(fiveBit(q + 8, qh, j)) * d + m }
        case .q4_K:
            // d, dmin, 12 bytes of packed 6-bit scales and minimums, 128 bytes of 4-bit values: sub-block s
            // (32 values) is the low (s even) or high nibbles of bytes 32 (s / 2) ..< 32 (s / 2 + 1).
            let d = half(q), dmin = half(q + 2), scales = q + 4, qs = q + 16
            for s in 0..<8 {
                let (sc, m) = scaleMin(scales, s)
                let ds = d * Float(sc), ms = dmin * Float(m), shift = UInt8(4 * (s % 2))
                for l in 0..<32 { y[32 * s + l] = ds * Float((qs[32 * (s / 2) + l] >> shift) & 0x0f) - ms }
            }
        case .q5_K:
            // As Q4_K, with a fifth bit per value: bit s of byte l of the 32 high-bit bytes.
            let d = half(q), dmin = half(q + 2), scales = q + 4, qh = q + 16, qs = q + 48
            for s in 0..<8 {
                let (sc, m) = scaleMin(scales, s)
                let ds = d * Float(sc), ms = dmin * Float(m), shift = UInt8(4 * (s % 2))
                for l in 0..<32 {
                    let v = (qs[32 * (s / 2) + l] >> shift) & 0x0f | ((qh[l] >> UInt8(s)) & 1) << 4
                    y[32 * s + l] = ds * Float(v) - ms
                }
            }
        case .q6_K:
            // 128 bytes of low 4 bits, 64 of high 2 bits, 16 signed 8-bit scales (one per 16 values), d last.
            let ql = q, qh = q + 128, scales = q + 192, d = half(q + 208)
            for i in 0..<256 {
                let h = i / 128, r = i % 128
                let low = (ql[64 * h + r % 64] >> UInt8(4 * (r / 64))) & 0x0f
                let high = (qh[32 * h + r % 32] >> UInt8(2 * (r / 32))) & 0x03
                y[i] = (d * Float(Int8(bitPattern: scales[i / 16]))) * Float(Int(low | high << 4) - 32)
            }
        case .f32, .f16:
            preconditionFailure("not a block type")
        }
    }

    /// Value j of a Q5_0/Q5_1 block's 32 five-bit values: low nibbles then high nibbles of 16 bytes, bit j
    /// of `qh` as the fifth bit.
    @inline(__always)
    static func fiveBit(_ qs: UnsafePointer<UInt8>, _ qh: UInt32, _ j: Int) -> Int {
        let nibble = j < 16 ? qs[j] & 0x0f : qs[j - 16] >> 4
        return Int(nibble) | Int((qh >> UInt32(j)) & 1) << 4
    }

    /// The 6-bit scale and minimum of sub-block `j` of a K-quant block's 12 packed bytes.
    static func scaleMin(_ q: UnsafePointer<UInt8>, _ j: Int) -> (UInt8, UInt8) {
        if j < 4 { return (q[j] & 63, q[j + 4] & 63) }
        return ((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }

    static func u32(_ q: UnsafePointer<UInt8>) -> UInt32 {
        UInt32(q[0]) | UInt32(q[1]) << 8 | UInt32(q[2]) << 16 | UInt32(q[3]) << 24
    }
}

func half(_ q: UnsafePointer<UInt8>) -> Float { halfToFloat(UInt16(q[0]) | UInt16(q[1]) << 8) }
