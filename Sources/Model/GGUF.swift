import Foundation

/// A GGUF file (versions 2 and 3): metadata, tensor table and tensor data, with every read bounds-checked.
public struct GGUFFile {
    public enum Value: Sendable, Equatable {
        case int(Int64), uint(UInt64), float(Double), bool(Bool), string(String), array([Value])

        public var int: Int? {
            switch self {
            case .int(let v): return Int(exactly: v)
            case .uint(let v): return Int(exactly: v)
            default: return nil
            }
        }
        public var double: Double? {
            switch self {
            case .float(let v): return v
            case .int(let v): return Double(v)
            case .uint(let v): return Double(v)
            default: return nil
            }
        }
        public var string: String? { if case .string(let s) = self { return s } else { return nil } }
        public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
        public var array: [Value]? { if case .array(let a) = self { return a } else { return nil } }
    }

    public enum TensorType: UInt32, Sendable, CaseIterable {
        case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q4_K = 12, q5_K = 13, q6_K = 14
        /// (elements per block, bytes per block)
        var block: (Int, Int) {
            switch self {
            case .f32: return (1, 4)
            case .f16: return (1, 2)
            case .q4_0: return (32, 18)
            case .q4_1: return (32, 20)
            case .q5_0: return (32, 22)
            case .q5_1: return (32, 24)
            case .q8_0: return (32, 34)
            case .q4_K: return (256, 144)
            case .q5_K: return (256, 176)
            case .q6_K: return (256, 210)
            }
        }
        /// The names of the supported types, for errors.
        public static var names: String { allCases.map { "\($0)".uppercased() }.joined(separator: ", ") }
    }

    public struct Tensor: Sendable {
        public let name: String
        /// Dimensions as GGUF lists them (fastest first): a [out, in] matrix is stored as [in, out].
        public let dims: [Int]
        public let type: TensorType
        public let offset: Int
        public let byteCount: Int
        public var count: Int { dims.reduce(1, *) }
    }

    public let path: String
    public let version: UInt32
    public let metadata: [String: Value]
    public let tensors: [String: Tensor]
    /// Tensor names in file order.
    public let tensorOrder: [String]
    let data: Data
    let dataStart: Int

    public init(url: URL) throws {
        path = url.path
        data = try ModelError.mapped(url)
        var r = Reader(data: data, path: path)
        let magic = try r.u32()
        guard magic == 0x4655_4747 else { throw ModelError.format(path, "not a GGUF file (it does not begin with the bytes 'GGUF'; a file assembled from parts needs the first part first)") }
        version = try r.u32()
        guard version == 2 || version == 3 else { throw ModelError.format(path, "GGUF version \(version) is not supported (2 or 3 expected)") }
        let tensorCount = try r.count(limit: 1 << 20, what: "tensor count")
        let kvCount = try r.count(limit: 1 << 20, what: "metadata count")
        var metadata: [String: Value] = [:]
        for _ in 0..<kvCount {
            let key = try r.string()
            let type = try r.u32()
            metadata[key] = try r.value(type: type, key: key, depth: 0)
        }
        var tensors: [String: Tensor] = [:]
        var order: [String] = []
        for _ in 0..<tensorCount {
            let name = try r.string()
            let nDims = try r.u32()
            guard nDims >= 1 && nDims <= 4 else { throw ModelError.format(path, "tensor '\(name)': \(nDims) dimensions") }
            var dims: [Int] = []
            var count = 1
            for _ in 0..<nDims {
                let d = try r.u64()
                guard d > 0, d < 1 << 32 else { throw ModelError.format(path, "tensor '\(name)': bad dimension \(d)") }
                dims.append(Int(d))
                let (p, o) = count.multipliedReportingOverflow(by: Int(d))
                guard !o, p < 1 << 40 else { throw ModelError.format(path, "tensor '\(name)': too many elements") }
                count = p
            }
            let rawType = try r.u32()
            guard let type = TensorType(rawValue: rawType) else {
                throw ModelError.format(path, "tensor '\(name)': ggml type \(rawType) is not supported (\(TensorType.names))")
            }
            let (perBlock, blockBytes) = type.block
            guard dims[0] % perBlock == 0 else {
                throw ModelError.format(path, "tensor '\(name)': first dimension \(dims[0]) is not a multiple of the block size \(perBlock)")
            }
            let offset = try r.u64()
            guard offset < 1 << 48 else { throw ModelError.format(path, "tensor '\(name)': bad data offset \(offset)") }
            guard tensors[name] == nil else { throw ModelError.format(path, "tensor '\(name)' appears twice") }
            tensors[name] = Tensor(name: name, dims: dims, type: type, offset: Int(offset), byteCount: count / perBlock * blockBytes)
            order.append(name)
        }
        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard let v = a.int, v > 0, v & (v - 1) == 0 else { throw ModelError.format(path, "general.alignment must be a power of two") }
            alignment = v
        }
        dataStart = (r.position + alignment - 1) / alignment * alignment
        let dataSize = data.count - dataStart
        for t in tensors.values {
            guard t.offset % alignment == 0 else { throw ModelError.format(path, "tensor '\(t.name)': offset \(t.offset) is not aligned to \(alignment)") }
            guard dataSize >= 0, t.offset + t.byteCount <= dataSize else {
                throw ModelError.format(path, "tensor '\(t.name)': bytes \(t.offset)..<\(t.offset + t.byteCount) lie beyond the end of the data (\(max(dataSize, 0)) bytes; truncated or corrupt)")
            }
        }
        self.metadata = metadata
        self.tensors = tensors
        tensorOrder = order
    }

    /// Dequantises tensor `name` to float32 into `out` (`tensor.count` floats), in GGUF's element order.
    public func read(_ name: String, into out: UnsafeMutablePointer<Float>) throws {
        guard let t = tensors[name] else { throw ModelError.format(path, "no tensor '\(name)'") }
        data.withUnsafeBytes { raw in
            let base = (raw.baseAddress! + dataStart + t.offset).assumingMemoryBound(to: UInt8.self)
            GGUFFile.dequantize(type: t.type, from: base, count: t.count, into: out)
        }
    }

    /// `body` with the bytes of tensor `name` (its blocks as stored).
    func withBytes<T>(_ name: String, _ body: (UnsafePointer<UInt8>, Tensor) throws -> T) throws -> T {
        guard let t = tensors[name] else { throw ModelError.format(path, "no tensor '\(name)'") }
        return try data.withUnsafeBytes { raw in
            try body((raw.baseAddress! + dataStart + t.offset).assumingMemoryBound(to: UInt8.self), t)
        }
    }

    /// Dequantises `count` values (whole blocks) of `type` from `p`.
    public static func dequantize(type: TensorType, from p: UnsafePointer<UInt8>, count: Int, into out: UnsafeMutablePointer<Float>) {
        switch type {
        case .f32:
            memcpy(out, p, count * 4)
        case .f16:
            for i in 0..<count { out[i] = half(p + 2 * i) }
        default:
            let (elements, bytes) = type.block
            for b in 0..<count / elements { Quants.block(type, p + b * bytes, out + b * elements) }
        }
    }

    /// A cursor that refuses to read past the end.
    struct Reader {
        let data: Data
        let path: String
        var position = 0

        mutating func bytes(_ n: Int) throws -> Data {
            guard n >= 0, position + n <= data.count else {
                throw ModelError.format(path, "truncated: wanted \(n) bytes at offset \(position) of \(data.count)")
            }
            defer { position += n }
            return data.subdata(in: position..<(position + n))
        }
        mutating func load<T: FixedWidthInteger>(_: T.Type) throws -> T {
            let size = MemoryLayout<T>.size
            guard position + size <= data.count else {
                throw ModelError.format(path, "truncated: wanted \(size) bytes at offset \(position) of \(data.count)")
            }
            let v = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: position, as: T.self) }
            position += size
            return T(littleEndian: v)
        }
        mutating func u32() throws -> UInt32 { try load(UInt32.self) }
        mutating func u64() throws -> UInt64 { try load(UInt64.self) }
        mutating func count(limit: UInt64, what: String) throws -> Int {
            let n = try u64()
            guard n <= limit else { throw ModelError.format(path, "\(what) \(n) is implausible (corrupt header)") }
            return Int(n)
        }
        mutating func string() throws -> String {
            let n = try u64()
            guard n <= UInt64(data.count - position) else {
                throw ModelError.format(path, "string of \(n) bytes at offset \(position) runs past the end (truncated or corrupt)")
            }
            let d = try bytes(Int(n))
            guard let s = String(data: d, encoding: .utf8) else {
                throw ModelError.format(path, "invalid UTF-8 in a string at offset \(position - Int(n))")
            }
            return s
        }
        mutating func value(type: UInt32, key: String, depth: Int) throws -> Value {
            switch type {
            case 0: return .uint(UInt64(try load(UInt8.self)))
            case 1: return .int(Int64(try load(Int8.self)))
            case 2: return .uint(UInt64(try load(UInt16.self)))
            case 3: return .int(Int64(try load(Int16.self)))
            case 4: return .uint(UInt64(try load(UInt32.self)))
            case 5: return .int(Int64(try load(Int32.self)))
            case 6: return .float(Double(Float(bitPattern: try load(UInt32.self))))
            case 7:
                let b = try load(UInt8.self)
                guard b <= 1 else { throw ModelError.format(path, "metadata '\(key)': bool byte \(b)") }
                return .bool(b == 1)
            case 8: return .string(try string())
            case 9:
                guard depth == 0 else { throw ModelError.format(path, "metadata '\(key)': nested arrays are not supported") }
                let itemType = try u32()
                let n = try u64()
                guard n <= UInt64(data.count - position) else {
                    throw ModelError.format(path, "metadata '\(key)': array of \(n) items runs past the end (truncated or corrupt)")
                }
                var items: [Value] = []
                items.reserveCapacity(Int(n))
                for _ in 0..<n { items.append(try value(type: itemType, key: key, depth: depth + 1)) }
                return .array(items)
            case 10: return .uint(try load(UInt64.self))
            case 11: return .int(try load(Int64.self))
            case 12: return .float(Double(bitPattern: try load(UInt64.self)))
            default: throw ModelError.format(path, "metadata '\(key)': unknown value type \(type)")
            }
        }
    }
}
