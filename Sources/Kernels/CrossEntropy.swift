import Foundation

/// Log-softmax with the log-probability of one target per row; rows whose target is negative are masked.
public enum CrossEntropy {
    /// logprob[r] = logits[r, targets[r]] - logsumexp(logits[r, :]) (0 for masked rows); caches lse[r].
    public static func forward(logprob: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
                               logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                               rows: Int, vocab: Int) {
        Parallel.range(rows, grain: 1) { lo, hi in
            for r in lo..<hi {
                let t = Int(targets[r])
                if t < 0 { logprob[r] = 0; lse[r] = 0; continue }
                let row = logits + r * vocab
                let m = VectorMath.max(row, vocab)
                let l = m + Foundation.log(VectorMath.expShiftSumReadOnly(row, vocab, shift: m))
                lse[r] = l
                logprob[r] = row[t] - l
            }
        }
    }

    /// Turns logits into their gradient in place: dlogits[r,:] = dlogprob[r] * (onehot(t) - softmax(logits[r,:])).
    /// `dlogprob[r]` is d(loss)/d(logprob[r]); masked rows become zero.
    public static func backward(logits: UnsafeMutablePointer<Float>, lse: UnsafePointer<Float>,
                                targets: UnsafePointer<Int32>, dlogprob: UnsafePointer<Float>,
                                rows: Int, vocab: Int) {
        Parallel.range(rows, grain: 1) { lo, hi in
            for r in lo..<hi {
                let row = logits + r * vocab
                let t = Int(targets[r]), g = dlogprob[r]
                if t < 0 || g == 0 { row.update(repeating: 0, count: vocab); continue }
                let l = VectorMath.V8(repeating: lse[r]), gv = VectorMath.V8(repeating: -g)
                var i = 0
                while i + 8 <= vocab {
                    VectorMath.store8(gv * VectorMath.exp(VectorMath.load8(row + i) - l), row + i)
                    i += 8
                }
                while i < vocab { row[i] = -g * VectorMath.exp(row[i] - lse[r]); i += 1 }
                row[t] += g
            }
        }
    }
}
