import Foundation

/// Writes GGUF v3 files for tests (metadata and tensors given as raw bytes).
struct GGUFBuilder {
    enum Value {
        case u32(UInt32), f32(Float), bool(Bool), string(String), strings([String]), i32s([Int32])
    }
    var metadata: [(String, Value)] = []
    var tensors: [(name: String, dims: [Int], type: UInt32, bytes: Data)] = []

    static func le<T: FixedWidthInteger>(_ v: T) -> Data { withUnsafeBytes(of: v.littleEndian) { Data($0) } }
    static func str(_ s: String) -> Data { le(UInt64(s.utf8.count)) + Data(s.utf8) }

    func build(alignment: Int = 32) -> Data {
        var d = Data()
        d += GGUFBuilder.le(UInt32(0x4655_4747)) + GGUFBuilder.le(UInt32(3))
        d += GGUFBuilder.le(UInt64(tensors.count)) + GGUFBuilder.le(UInt64(metadata.count))
        for (key, value) in metadata {
            d += GGUFBuilder.str(key)
            switch value {
            case .u32(let v): d += GGUFBuilder.le(UInt32(4)) + GGUFBuilder.le(v)
            case .f32(let v): d += GGUFBuilder.le(UInt32(6)) + GGUFBuilder.le(v.bitPattern)
            case .bool(let v): d += GGUFBuilder.le(UInt32(7)) + Data([v ? 1 : 0])
            case .string(let s): d += GGUFBuilder.le(UInt32(8)) + GGUFBuilder.str(s)
            case .strings(let a):
                d += GGUFBuilder.le(UInt32(9)) + GGUFBuilder.le(UInt32(8)) + GGUFBuilder.le(UInt64(a.count))
                for s in a { d += GGUFBuilder.str(s) }
            case .i32s(let a):
                d += GGUFBuilder.le(UInt32(9)) + GGUFBuilder.le(UInt32(5)) + GGUFBuilder.le(UInt64(a.count))
                for v in a { d += GGUFBuilder.le(v) }
            }
        }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(offset)
            offset += (t.bytes.count + alignment - 1) / alignment * alignment
        }
        for (t, off) in zip(tensors, offsets) {
            d += GGUFBuilder.str(t.name) + GGUFBuilder.le(UInt32(t.dims.count))
            for dim in t.dims { d += GGUFBuilder.le(UInt64(dim)) }
            d += GGUFBuilder.le(t.type) + GGUFBuilder.le(UInt64(off))
        }
        while d.count % alignment != 0 { d.append(0) }
        for t in tensors {
            d += t.bytes
            while d.count % alignment != 0 { d.append(0) }
        }
        return d
    }

    static func f32(_ values: [Float]) -> Data { values.reduce(into: Data()) { $0 += le($1.bitPattern) } }
}
