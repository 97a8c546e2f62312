#if canImport(Glibc)
import Glibc
#endif

/// A fixed-size, 64-byte aligned, zero-initialised block of `Float`s that owns its memory.
///
/// Everything numeric in Autodidact works on raw pointers into these buffers: parameters, gradients,
/// optimizer moments and activations are each one `FloatBuffer`, and tensors are views (offset + count)
/// into them.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    /// Bytes mapped by `init(unbackedCount:)` (0 for ordinary buffers).
    private let mappedBytes: Int

    /// Buffers of at least this many bytes are aligned to 2 MiB and marked for transparent huge pages, so
    /// that streaming through hundreds of megabytes of weights is not held up by TLB misses and by
    /// hardware prefetchers stopping at every 4 KiB page.
    public static let hugePageThreshold = 4 << 20

    /// `hugePages: false` keeps large buffers on ordinary pages: a huge page is compacted and cleared when
    /// first touched, which for a buffer allocated often (a key/value cache) costs more than it saves
    /// (472 MB: 1.0 s against 0.22 s on this project's machine).
    public init(count: Int, hugePages: Bool = true) {
        precondition(count >= 0, "FloatBuffer count must be non-negative")
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let raw: UnsafeMutableRawPointer
        if hugePages && bytes >= FloatBuffer.hugePageThreshold {
            let huge = 2 << 20
            let rounded = (bytes + huge - 1) / huge * huge
            raw = UnsafeMutableRawPointer.allocate(byteCount: rounded, alignment: huge)
            _ = madvise(raw, rounded, MADV_HUGEPAGE)
        } else {
            raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        }
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
        mappedBytes = 0
    }

    /// A zero buffer whose pages take memory only once written (an anonymous mapping): the parameters of a
    /// model whose matrices live elsewhere (`QuantizedMatrix`), of which only norms and biases are filled.
    public init(unbackedCount count: Int) {
        precondition(count >= 0, "FloatBuffer count must be non-negative")
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        guard let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
              raw != MAP_FAILED else { fatalError("FloatBuffer: cannot map \(bytes) bytes") }
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        mappedBytes = bytes
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit {
        if mappedBytes > 0 { munmap(pointer, mappedBytes) } else { UnsafeMutableRawPointer(pointer).deallocate() }
    }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    public func copy(from other: FloatBuffer) {
        precondition(other.count == count, "FloatBuffer.copy: size mismatch")
        pointer.update(from: other.pointer, count: count)
    }
}

/// A growable scratch area: `ensure(n)` reallocates only when `n` exceeds the capacity, so a training loop
/// with steady shapes allocates on its first step and never again.
public final class Scratch: @unchecked Sendable {
    public private(set) var buffer: FloatBuffer
    public init(capacity: Int = 0) { buffer = FloatBuffer(count: capacity) }
    @discardableResult
    public func ensure(_ n: Int) -> UnsafeMutablePointer<Float> {
        if n > buffer.count { buffer = FloatBuffer(count: n) }
        return buffer.pointer
    }
    public var pointer: UnsafeMutablePointer<Float> { buffer.pointer }
}
