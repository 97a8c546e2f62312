import Testing
import Foundation
import Kernels
import Model
import TestSupport

/// Every GGML block type dequantises to the bits gguf-py's `quants.dequantize` gives, over random blocks
/// and the packing edge cases of the K-quants' 6-bit scales (Tests/scripts/dequantize_reference.py).
@Suite struct QuantTests {
    @Test(arguments: [("Q4_0", GGUFFile.TensorType.q4_0), ("Q4_1", .q4_1), ("Q5_0", .q5_0), ("Q5_1", .q5_1), ("Q8_0", .q8_0),
                      ("Q4_K", .q4_K), ("Q5_K", .q5_K), ("Q6_K", .q6_K)])
    func dequantisesLikeGGUFPy(_ name: String, _ type: GGUFFile.TensorType) throws {
        let dir = Paths.temporaryDirectory("quants-\(name)")
        let prefix = dir.appendingPathComponent(name).path
        let r = try run(["python3", Paths.repo.appendingPathComponent("Tests/scripts/dequantize_reference.py").path, name, "64", "7", prefix])
        try #require(r.status == 0, "dequantize_reference.py: \(r.stderr)")
        let blocks = try Data(contentsOf: URL(fileURLWithPath: prefix + ".bin"))
        let expected = try Data(contentsOf: URL(fileURLWithPath: prefix + ".f32"))
        let count = expected.count / 4
        var got = [Float](repeating: .nan, count: count)
        blocks.withUnsafeBytes { raw in
            got.withUnsafeMutableBufferPointer { out in
                GGUFFile.dequantize(type: type, from: raw.bindMemory(to: UInt8.self).baseAddress!, count: count, into: out.baseAddress!)
            }
        }
        let bits = got.map(\.bitPattern)
        let reference = expected.withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) }
        let differing = zip(bits, reference).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
        #expect(differing.isEmpty, "\(name): \(differing.count) of \(count) values differ, first at \(differing.first ?? -1): \(differing.first.map { "\(got[$0]) vs \(Float(bitPattern: reference[$0]))" } ?? "")")

        // The quantized inference path holds the same blocks (scales as float32) and its kernels, 16 and 8
        // lanes wide, dequantise them to the same bits: the blocks as 8 rows.
        let rows = 8, inDim = count / rows, rowBytes = QuantizedMatrix.rowBytes(type: Int32(type.rawValue), inDim: inDim)
        let held = QuantizedMatrix(inDim: inDim, parts: [(Int32(type.rawValue), rows)])
        blocks.withUnsafeBytes { raw in for r in 0..<rows { held.store(segment: 0, row: r, gguf: raw.baseAddress! + r * rowBytes) } }
        defer { QuantizedMatrix.useAVX512(true) }
        for wide in [true, false] {
            QuantizedMatrix.useAVX512(wide)
            var rowsOut = [Float](repeating: .nan, count: count)
            rowsOut.withUnsafeMutableBufferPointer { out in for r in 0..<rows { held.row(r, into: out.baseAddress! + r * inDim) } }
            #expect(rowsOut.map(\.bitPattern) == reference, "\(name): held rows, wide \(wide)")
        }
    }
}
