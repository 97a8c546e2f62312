import CQuant

/// A weight matrix ([outDim, inDim], rows in Hugging Face order) kept in GGUF's quantised blocks, for the
/// frozen models' inference: products read the blocks directly (`CQuant`), dequantising a few rows at a time
/// into cache, so the weights take their file's size in memory, not four bytes a value.
///
/// It is a stack of row segments, each of one block type (a fused q/k/v matrix may mix types, as llama.cpp's
/// Q4_K_M files do).
public final class QuantizedMatrix: @unchecked Sendable {
    public struct Segment: @unchecked Sendable {
        /// The ggml type code (`QuantizedMatrix.supports`).
        public let type: Int32
        public let rows: Int
        let bytes: UnsafeMutableRawPointer
        let rowBytes: Int
    }

    public let outDim: Int
    public let inDim: Int
    public let segments: [Segment]
    /// Bytes of blocks held (the 32-value types' scales as float32: 6 to 20% above the file's bytes).
    public let byteCount: Int

    /// Whether rows of `inDim` values of ggml type `type` can be held: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
    /// Q4_K, Q5_K or Q6_K, with `inDim` a multiple of both the block size and 32.
    public static func supports(type: Int32, inDim: Int) -> Bool {
        inDim > 0 && inDim % 32 == 0 && adq_row_bytes(type, inDim) > 0
    }

    public static func rowBytes(type: Int32, inDim: Int) -> Int { adq_row_bytes(type, inDim) }

    /// Room for `parts` (type, rows) stacked; `store` fills it row by row. Callers check `supports` first.
    public init(inDim: Int, parts: [(type: Int32, rows: Int)]) {
        precondition(parts.allSatisfy { QuantizedMatrix.supports(type: $0.type, inDim: inDim) }, "unsupported block type")
        self.inDim = inDim
        segments = parts.map { p in
            let rowBytes = adq_stored_row_bytes(p.type, inDim)
            return Segment(type: p.type, rows: p.rows, bytes: UnsafeMutableRawPointer.allocate(byteCount: max(1, p.rows * rowBytes), alignment: 64),
                           rowBytes: rowBytes)
        }
        outDim = segments.reduce(0) { $0 + $1.rows }
        byteCount = segments.reduce(0) { $0 + $1.rows * $1.rowBytes }
    }

    /// Puts row `row` of segment `segment` in place from its GGUF blocks (`rowBytes(type:inDim:)` bytes),
    /// converting the 32-value types' f16 scales to float32 (`adq_repack_row`; the values are unchanged).
    public func store(segment: Int, row: Int, gguf: UnsafeRawPointer) {
        let s = segments[segment]
        adq_repack_row(s.type, gguf.assumingMemoryBound(to: UInt8.self), (s.bytes + row * s.rowBytes).assumingMemoryBound(to: UInt8.self), inDim)
    }

    deinit { segments.forEach { $0.bytes.deallocate() } }

    /// Row `i` dequantised into `y` (inDim floats): gguf-py's values bit for bit.
    public func row(_ i: Int, into y: UnsafeMutablePointer<Float>) {
        var r = i
        for s in segments {
            if r < s.rows { adq_dequantize_row(s.type, s.bytes.assumingMemoryBound(to: UInt8.self) + r * s.rowBytes, y, inDim); return }
            r -= s.rows
        }
        preconditionFailure("row \(i) of \(outDim)")
    }

    /// out[m, n] (+)= sum_k x[m, k] * w[n, k] for m < rows. Each output is one fixed sequence of operations
    /// (`adq_gemm`), whatever the row count, the threads or the CPU's vector width.
    public func multiply(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, rows M: Int, accumulate: Bool = false) {
        if M == 0 || outDim == 0 { return }
        // Tasks of whole row chunks per segment, taken dynamically by the threads.
        let chunk = max(16, min(256, outDim / (8 * Parallel.threads) / 16 * 16))
        var tasks: [(segment: Int, first: Int, end: Int, column: Int)] = []
        var column = 0
        for (i, s) in segments.enumerated() {
            var r = 0
            while r < s.rows { tasks.append((i, r, min(s.rows, r + chunk), column)); r += chunk }
            column += s.rows
        }
        let N = outDim, K = inDim
        tasks.withUnsafeBufferPointer { list in
            Parallel.tasks(list.count) { t in
                let task = list[t], s = segments[task.segment]
                // Row n of the segment is column `column + n` of out; adq_gemm writes columns n0..<n1 of its base.
                adq_gemm(s.type, s.bytes.assumingMemoryBound(to: UInt8.self), task.first, task.end, K, x, M,
                         out + task.column, N, accumulate ? 1 : 0)
            }
        }
    }
}

extension QuantizedMatrix {
    /// Whether the AVX-512 copy of the kernels runs (the CPU has it and AUTODIDACT_NO_AVX512 is unset).
    public static var usesAVX512: Bool { adq_uses_avx512() != 0 }

    /// Runs the AVX-512 kernels (when the CPU has them) or the AVX2 ones from now on (tests compare the two);
    /// returns whether AVX-512 runs.
    @discardableResult
    public static func useAVX512(_ on: Bool) -> Bool { adq_set_avx512(on ? 1 : 0) != 0 }
}
