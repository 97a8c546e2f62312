import Foundation
import Kernels
import Model

/// How far one model's next-token distributions lie from another's over the same tokens (the quantized
/// inference path against the float32 one on the same file).
public enum QuantizedFidelity {
    public struct Difference: Sendable {
        /// Mean and max |log p_a(x_{t+1}) - log p_b(x_{t+1})| over positions t.
        public let meanAbs: Double
        public let maxAbs: Double
        /// Mean KL(p_a || p_b) of the next-token distributions.
        public let meanKL: Double
        /// Share of positions whose most likely next token is the same.
        public let argmaxAgreement: Double
    }

    /// Runs `ids` through both models' inference forward (one slot, every row's logits).
    public static func compare(_ a: LlamaModel, _ b: LlamaModel, ids: [Int32]) -> Difference {
        let n = ids.count, V = a.config.vocabSize
        func logSoftmax(_ m: LlamaModel) -> [Float] {
            let forward = BatchForward(model: m, cache: KVCache(config: m.config, slots: 1, capacity: n))
            let logits = forward.run(tokens: ids, slots: [Int32](repeating: 0, count: n), positions: (0..<n).map(Int32.init),
                                     logitRows: Array(0..<(n - 1)))
            var out = [Float](repeating: 0, count: (n - 1) * V)
            for r in 0..<(n - 1) {
                let norm = Generator.logSumExp(logits + r * V, V)
                for v in 0..<V { out[r * V + v] = Float(norm.of(Int32(v))) }
            }
            return out
        }
        let la = logSoftmax(a), lb = logSoftmax(b)
        var sumAbs = 0.0, maxAbs = 0.0, sumKL = 0.0, agree = 0
        for r in 0..<(n - 1) {
            let t = r * V + Int(ids[r + 1])
            let d = abs(Double(la[t] - lb[t]))
            sumAbs += d; maxAbs = max(maxAbs, d)
            var kl = 0.0, argA = 0, argB = 0
            for v in 0..<V {
                let pa = Double(la[r * V + v]), pb = Double(lb[r * V + v])
                kl += exp(pa) * (pa - pb)
                if la[r * V + v] > la[r * V + argA] { argA = v }
                if lb[r * V + v] > lb[r * V + argB] { argB = v }
            }
            sumKL += kl
            if argA == argB { agree += 1 }
        }
        let m = Double(n - 1)
        return Difference(meanAbs: sumAbs / m, maxAbs: maxAbs, meanKL: sumKL / m, argmaxAgreement: Double(agree) / m)
    }
}
