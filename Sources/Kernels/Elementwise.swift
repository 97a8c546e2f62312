/// Embedding lookup and residual adds.
public enum Embedding {
    /// out[r,:] = table[ids[r],:]
    public static func forward(out: UnsafeMutablePointer<Float>, ids: UnsafePointer<Int32>,
                               table: UnsafePointer<Float>, rows: Int, dim: Int) {
        Parallel.range(rows, grain: 32) { lo, hi in
            for r in lo..<hi { (out + r * dim).update(from: table + Int(ids[r]) * dim, count: dim) }
        }
    }

    /// dtable[ids[r],:] += dout[r,:], split by columns so that repeated ids never race.
    public static func backward(dtable: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                ids: UnsafePointer<Int32>, rows: Int, dim: Int) {
        Parallel.range(dim, grain: 64) { c0, c1 in
            for r in 0..<rows {
                let d = dtable + Int(ids[r]) * dim, g = dout + r * dim
                for c in c0..<c1 { d[c] += g[c] }
            }
        }
    }
}

public enum Residual {
    /// out = a + b (out may alias a or b). The backward of a residual add is the identity on both inputs.
    public static func add(out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>,
                           _ b: UnsafePointer<Float>, count: Int) {
        Parallel.range(count, grain: 1 << 15) { lo, hi in
            var i = lo
            while i + 16 <= hi {
                VectorMath.store16(VectorMath.load16(a + i) + VectorMath.load16(b + i), out + i)
                i += 16
            }
            while i < hi { out[i] = a[i] + b[i]; i += 1 }
        }
    }
}

/// A bias on the output of a linear layer (Qwen2's q/k/v projections).
public enum Bias {
    /// x[r, c] += b[c] for the first `dim` columns of each row (rows `stride` apart).
    public static func forward(_ x: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, dim: Int, stride: Int) {
        Parallel.range(rows, grain: 64) { lo, hi in
            for r in lo..<hi {
                let xr = x + r * stride
                for c in 0..<dim { xr[c] += b[c] }
            }
        }
    }

    /// db[c] += sum over rows of dout[r, c], rows in order (split by columns, so the sum is the same at any
    /// thread count).
    public static func backward(_ db: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, rows: Int, dim: Int, stride: Int) {
        Parallel.range(dim, grain: 64) { c0, c1 in
            for r in 0..<rows {
                let g = dout + r * stride
                for c in c0..<c1 { db[c] += g[c] }
            }
        }
    }
}
