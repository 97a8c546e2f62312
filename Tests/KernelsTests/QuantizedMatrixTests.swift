import Foundation
import Kernels
import Testing
import TestSupport

/// Products with weights held in GGUF blocks (`QuantizedMatrix`): against float64 dot products of the
/// dequantised rows, and the same bits whatever the row count, the threads or the kernels' vector width.
@Suite(.serialized) struct QuantizedMatrixTests {
    /// (ggml type code, values per block, bytes per block, offsets of the f16 scales in a block).
    static let types: [(name: String, type: Int32, values: Int, bytes: Int, halves: [Int])] = [
        ("F32", 0, 1, 4, []), ("F16", 1, 1, 2, []), ("Q4_0", 2, 32, 18, [0]), ("Q4_1", 3, 32, 20, [0, 2]),
        ("Q5_0", 6, 32, 22, [0]), ("Q5_1", 7, 32, 24, [0, 2]), ("Q8_0", 8, 32, 34, [0]), ("Q4_K", 12, 256, 144, [0, 2]),
        ("Q5_K", 13, 256, 176, [0, 2]), ("Q6_K", 14, 256, 210, [208]),
    ]

    /// A finite f16 of moderate size and either sign.
    static func half(_ rng: inout TestRNG) -> UInt16 {
        UInt16(rng.int(2)) << 15 | UInt16(8 + rng.int(10)) << 10 | UInt16(rng.int(1024))
    }

    /// `rows` rows of `inDim` random values of type `t`, as GGUF stores them.
    static func randomRows(_ t: (name: String, type: Int32, values: Int, bytes: Int, halves: [Int]), rows: Int, inDim: Int,
                           _ rng: inout TestRNG) -> [UInt8] {
        var bytes = (0..<(rows * inDim / t.values * t.bytes)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let blocks = rows * inDim / t.values
        for b in 0..<blocks {
            if t.type == 0 {
                let v = rng.normal().bitPattern
                for i in 0..<4 { bytes[b * 4 + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) }
            } else if t.type == 1 {
                let h = half(&rng); bytes[b * 2] = UInt8(h & 0xff); bytes[b * 2 + 1] = UInt8(h >> 8)
            }
            for o in t.halves {
                let h = half(&rng); bytes[b * t.bytes + o] = UInt8(h & 0xff); bytes[b * t.bytes + o + 1] = UInt8(h >> 8)
            }
        }
        return bytes
    }

    static func matrix(_ t: (name: String, type: Int32, values: Int, bytes: Int, halves: [Int]), rows: Int, inDim: Int,
                       _ rng: inout TestRNG) -> QuantizedMatrix {
        let raw = randomRows(t, rows: rows, inDim: inDim, &rng)
        let m = QuantizedMatrix(inDim: inDim, parts: [(t.type, rows)])
        let rowBytes = QuantizedMatrix.rowBytes(type: t.type, inDim: inDim)
        raw.withUnsafeBytes { p in for r in 0..<rows { m.store(segment: 0, row: r, gguf: p.baseAddress! + r * rowBytes) } }
        return m
    }

    @Test(arguments: QuantizedMatrixTests.types.map(\.name))
    func productsMatchFloat64DotsAndHoldTheirBitsAcrossShapesThreadsAndWidths(_ name: String) throws {
        let t = QuantizedMatrixTests.types.first { $0.name == name }!
        var rng = TestRNG(UInt64(t.type) + 11)
        let inDim = 512, rows = 37
        let w = QuantizedMatrixTests.matrix(t, rows: rows, inDim: inDim, &rng)
        let M = 13
        let x = rng.buffer(M * inDim)
        // Reference: each row dequantised (checked against gguf-py in ModelTests/QuantTests), float64 dots.
        let wf = FloatBuffer(count: rows * inDim)
        for r in 0..<rows { w.row(r, into: wf.pointer + r * inDim) }
        let saved = Parallel.threads
        defer { Parallel.threads = saved; QuantizedMatrix.useAVX512(true) }
        func product(_ m: Int, threads: Int, wide: Bool) -> [UInt32] {
            Parallel.threads = threads
            QuantizedMatrix.useAVX512(wide)
            let out = FloatBuffer(count: m * rows)
            w.multiply(out: out.pointer, x: x.pointer, rows: m)
            return out.array.map(\.bitPattern)
        }
        let full = product(M, threads: 2, wide: true)
        for m in 0..<M {
            for n in 0..<rows {
                var ref = 0.0, scale = 0.0
                for k in 0..<inDim {
                    let p = Double(x[m * inDim + k]) * Double(wf[n * inDim + k])
                    ref += p; scale += abs(p)
                }
                let got = Double(Float(bitPattern: full[m * rows + n]))
                #expect(abs(got - ref) <= 1e-6 * scale + 1e-30, "\(name) [\(m), \(n)]: \(got) vs \(ref)")
            }
        }
        // Row m's bits are the same computed alone, with 1, 3 or 8 rows, on 1 or 3 threads, 8 or 16 wide.
        for (m, threads, wide) in [(1, 1, true), (3, 3, true), (8, 2, true), (1, 2, false), (M, 1, false), (8, 3, false)] {
            let part = product(m, threads: threads, wide: wide)
            #expect(part == Array(full[0..<(m * rows)]), "\(name): \(m) rows, \(threads) threads, wide \(wide)")
        }
        // accumulate adds to what is there.
        Parallel.threads = 2
        let acc = FloatBuffer(count: rows)
        for n in 0..<rows { acc[n] = 1.5 }
        w.multiply(out: acc.pointer, x: x.pointer, rows: 1, accumulate: true)
        for n in 0..<rows { #expect(acc[n] == 1.5 + Float(bitPattern: full[n])) }
    }

    @Test func segmentsStackTheirRowsInOrder() {
        var rng = TestRNG(5)
        let q = QuantizedMatrixTests.types[4], k = QuantizedMatrixTests.types[6]  // Q5_0 then Q8_0, as Q4_K_M mixes them
        let a = QuantizedMatrixTests.randomRows(q, rows: 6, inDim: 64, &rng), b = QuantizedMatrixTests.randomRows(k, rows: 3, inDim: 64, &rng)
        let m = QuantizedMatrix(inDim: 64, parts: [(q.type, 6), (k.type, 3)])
        a.withUnsafeBytes { p in for r in 0..<6 { m.store(segment: 0, row: r, gguf: p.baseAddress! + r * 44) } }
        b.withUnsafeBytes { p in for r in 0..<3 { m.store(segment: 1, row: r, gguf: p.baseAddress! + r * 68) } }
        let single = QuantizedMatrix(inDim: 64, parts: [(k.type, 3)])
        b.withUnsafeBytes { p in for r in 0..<3 { single.store(segment: 0, row: r, gguf: p.baseAddress! + r * 68) } }
        let x = rng.buffer(64), out = FloatBuffer(count: 9), alone = FloatBuffer(count: 3)
        m.multiply(out: out.pointer, x: x.pointer, rows: 1)
        single.multiply(out: alone.pointer, x: x.pointer, rows: 1)
        #expect(m.outDim == 9 && Array(out.array[6...]) == alone.array)
        #expect(QuantizedMatrix.supports(type: 6, inDim: 64) && !QuantizedMatrix.supports(type: 12, inDim: 64) && !QuantizedMatrix.supports(type: 5, inDim: 64))
    }
}
