import Foundation
import Kernels
import Tokenizer

/// A safetensors file: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
/// shape and byte range, then the data. Every offset is checked against the file before anything is read.
public struct SafetensorsFile {
    public struct Entry: Sendable {
        public let name: String
        public let dtype: String
        public let shape: [Int]
        public let begin: Int
        public let end: Int
        public var count: Int { shape.reduce(1, *) }
    }
    public static let elementSize = ["F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
                                     "U8": 1, "BOOL": 1, "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1]

    public let path: String
    public let entries: [String: Entry]
    public let metadata: [String: String]
    let data: Data
    let dataStart: Int

    public init(url: URL) throws {
        path = url.path
        data = try ModelError.mapped(url)
        guard data.count >= 8 else { throw ModelError.format(path, "truncated: \(data.count) bytes, no header") }
        let headerLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength >= 2, headerLength <= UInt64(data.count - 8), headerLength < 100_000_000 else {
            throw ModelError.format(path, "header length \(headerLength) does not fit in a file of \(data.count) bytes (truncated or corrupt)")
        }
        dataStart = 8 + Int(headerLength)
        let header = try JSONValue.parse(data.subdata(in: 8..<dataStart), file: path + " (header)")
        guard let object = header.object else { throw ModelError.format(path, "header is not a JSON object") }
        let dataSize = data.count - dataStart
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                for (k, v) in value.object ?? [:] { metadata[k] = v.string ?? v.summary }
                continue
            }
            guard let dtype = value["dtype"]?.string, let size = SafetensorsFile.elementSize[dtype] else {
                throw ModelError.format(path, "tensor '\(name)': unknown dtype \(value["dtype"]?.summary ?? "missing")")
            }
            guard let shapeValues = value["shape"]?.array else {
                throw ModelError.format(path, "tensor '\(name)': missing shape")
            }
            var shape: [Int] = []
            var count = 1
            for d in shapeValues {
                guard let n = d.int, n >= 0, n < 1 << 40 else {
                    throw ModelError.format(path, "tensor '\(name)': bad dimension \(d.summary)")
                }
                shape.append(n)
                let (product, overflow) = count.multipliedReportingOverflow(by: n)
                guard !overflow, product < 1 << 40 else { throw ModelError.format(path, "tensor '\(name)': shape \(shape) is too large") }
                count = product
            }
            guard let offsets = value["data_offsets"]?.array, offsets.count == 2,
                  let begin = offsets[0].int, let end = offsets[1].int else {
                throw ModelError.format(path, "tensor '\(name)': data_offsets must be two integers")
            }
            guard begin >= 0, end >= begin, end <= dataSize else {
                throw ModelError.format(path, "tensor '\(name)': data_offsets [\(begin), \(end)] lie outside the \(dataSize) data bytes (truncated or corrupt)")
            }
            guard end - begin == count * size else {
                throw ModelError.format(path, "tensor '\(name)': \(end - begin) bytes for shape \(shape) of \(dtype) (expected \(count * size))")
            }
            entries[name] = Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
        }
        // Tensors must not overlap.
        let sorted = entries.values.sorted { $0.begin < $1.begin }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.begin < a.end {
            throw ModelError.format(path, "tensors '\(a.name)' and '\(b.name)' overlap")
        }
        self.entries = entries
        self.metadata = metadata
    }

    /// Converts tensor `name` (F32, F16 or BF16) to float32 into `out`, which must hold `entry.count` floats.
    public func read(_ name: String, into out: UnsafeMutablePointer<Float>) throws {
        guard let e = entries[name] else { throw ModelError.format(path, "no tensor '\(name)'") }
        try data.withUnsafeBytes { raw in
            let base = raw.baseAddress! + dataStart + e.begin
            switch e.dtype {
            case "F32":
                memcpy(out, base, e.count * 4)
            case "F16":
                let p = base.assumingMemoryBound(to: UInt16.self)
                for i in 0..<e.count { out[i] = halfToFloat(UInt16(littleEndian: p[i])) }
            case "BF16":
                let p = base.assumingMemoryBound(to: UInt16.self)
                for i in 0..<e.count { out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: p[i])) << 16) }
            default:
                throw ModelError.format(path, "tensor '\(name)': dtype \(e.dtype) cannot be read as floats (F32, F16 or BF16 expected)")
            }
        }
    }

    /// Writes float32 tensors (in the given order) to `url` through a temporary file and a rename.
    public static func write(_ tensors: [(name: String, shape: [Int], data: UnsafePointer<Float>)],
                             metadata: [String: String] = ["format": "pt"], to url: URL) throws {
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for t in tensors {
            let bytes = t.shape.reduce(1, *) * 4
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + bytes]]
            offset += bytes
        }
        var headerData = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (8 + headerData.count) % 8 != 0 { headerData.append(0x20) }
        try AtomicFile.write(to: url) { handle in
            var length = UInt64(headerData.count).littleEndian
            try handle.write(contentsOf: Data(bytes: &length, count: 8))
            try handle.write(contentsOf: headerData)
            for t in tensors {
                let bytes = t.shape.reduce(1, *) * 4
                try handle.write(contentsOf: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: t.data), count: bytes, deallocator: .none))
            }
        }
    }
}

/// IEEE half to float, exact (subnormals, infinities and NaN included).
@inline(__always)
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = Int(h >> 10) & 0x1f
    let mant = UInt32(h & 0x3ff)
    if exp == 0 {
        let v = Float(mant) * 0x1p-24
        return sign != 0 ? -v : v
    }
    if exp == 31 { return Float(bitPattern: sign | 0x7f80_0000 | (mant << 13)) }
    return Float(bitPattern: sign | UInt32(exp + 112) << 23 | (mant << 13))
}
