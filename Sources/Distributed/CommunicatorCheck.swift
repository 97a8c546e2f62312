import Foundation

/// `autodidact mpi-check`: exercises every communicator operation across the ranks of the current run,
/// each against a value computed from the rank and size alone. Returns the failures (empty when all pass).
public enum CommunicatorCheck {
    public static func run(_ comm: Communicator) throws -> [String] {
        var failures: [String] = []
        let r = comm.rank, n = comm.size
        func expect(_ ok: Bool, _ what: String) { if !ok { failures.append("rank \(r): \(what)") } }
        try comm.barrier()
        // broadcast of bytes and floats from the last rank
        var bytes = r == n - 1 ? Data("from rank \(n - 1)".utf8) : Data()
        try comm.broadcast(&bytes, root: n - 1)
        expect(String(decoding: bytes, as: UTF8.self) == "from rank \(n - 1)", "byte broadcast")
        var floats = [Float](repeating: Float(r), count: 1000)
        try floats.withUnsafeMutableBufferPointer { try comm.broadcast($0.baseAddress!, count: 1000, root: 0) }
        expect(floats.allSatisfy { $0 == 0 }, "float broadcast")
        // all-reduce: sum, average, max, min over values known in closed form
        var v = (0..<3000).map { Float(r + 1) * Float($0 % 7) }
        try v.withUnsafeMutableBufferPointer { try comm.allReduce($0.baseAddress!, count: $0.count, op: .sum) }
        let total = Float(n * (n + 1) / 2)
        expect(v.enumerated().allSatisfy { $0.element == total * Float($0.offset % 7) }, "float sum")
        var a = [Float](repeating: Float(r), count: 10)
        try a.withUnsafeMutableBufferPointer { try comm.allReduce($0.baseAddress!, count: 10, op: .average) }
        expect(a.allSatisfy { abs($0 - Float(n - 1) / 2) < 1e-6 }, "float average")
        var d = [Double(r), -Double(r)]
        try comm.allReduce(&d, op: .max)
        expect(d == [Double(n - 1), 0], "double max")
        var m = [Double(r + 5)]
        try comm.allReduce(&m, op: .min)
        expect(m == [5], "double min")
        // gather of variable-size messages
        let gathered = try comm.gather(Data(repeating: UInt8(r), count: r * 3), root: 0)
        if r == 0 {
            expect(gathered?.count == n, "gather count")
            for (k, g) in (gathered ?? []).enumerated() { expect(g == Data(repeating: UInt8(k), count: k * 3), "gather from \(k)") }
        } else {
            expect(gathered == nil, "gather on a non-root rank")
        }
        // ZeRO's reduce-scatter, all-gather and gather over uneven pieces (rank k's piece holds k + 2 values)
        let bounds = (0...n).map { k in k * (k + 3) / 2 }
        var whole = (0..<bounds[n]).map { Float(r + 1) * Float($0 + 1) }
        try whole.withUnsafeMutableBufferPointer { try comm.reduceScatter($0.baseAddress!, bounds: bounds) }
        expect((bounds[r]..<bounds[r + 1]).allSatisfy { whole[$0] == total * Float($0 + 1) }, "reduce-scatter")
        for i in bounds[r]..<bounds[r + 1] { whole[i] = Float(r * 100 + i) }
        try whole.withUnsafeMutableBufferPointer { try comm.allGather($0.baseAddress!, bounds: bounds) }
        expect((0..<n).allSatisfy { k in (bounds[k]..<bounds[k + 1]).allSatisfy { whole[$0] == Float(k * 100 + $0) } }, "all-gather")
        let piece = [Float](repeating: Float(r) + 0.5, count: r + 2)
        var collected = [Float](repeating: -1, count: bounds[n])
        try collected.withUnsafeMutableBufferPointer { c in
            try comm.gather(piece, into: r == 0 ? c.baseAddress! : nil, bounds: bounds, root: 0)
        }
        if r == 0 { expect((0..<n).allSatisfy { k in (bounds[k]..<bounds[k + 1]).allSatisfy { collected[$0] == Float(k) + 0.5 } }, "float gather") }
        // typed point-to-point in a ring
        if n > 1 {
            let next = (r + 1) % n, prev = (r + n - 1) % n
            let pending = try comm.sendAsync(["from": r], to: next, tag: 42)
            let (msg, source) = try comm.receive([String: Int].self, from: prev, tag: 42)
            try pending.wait()
            expect(source == prev && msg["from"] == prev, "ring message")
        }
        try comm.barrier()
        return failures
    }
}
