import Foundation
import Kernels
import Model

extension Generator {
    /// For each sequence x, log p(x_{t+1} | x_0..x_t) for t = 0..n-2, through the inference forward (the
    /// path a quantized model runs on; `LlamaModel.tokenLogProbs` is the training forward's).
    public static func tokenLogProbs(model: LlamaModel, _ sequences: [[Int32]]) throws -> [[Float]] {
        let c = model.config
        let longest = sequences.map(\.count).max() ?? 0
        guard longest <= c.maxPositions else { throw ModelError("a sequence of \(longest) tokens exceeds the model's context of \(c.maxPositions)") }
        let forward = BatchForward(model: model, cache: KVCache(config: c, slots: 1, capacity: max(longest, 1)))
        let V = c.vocabSize
        return try sequences.map { s in
            guard !s.isEmpty else { throw ModelError("cannot score an empty sequence") }
            if let bad = s.first(where: { $0 < 0 || Int($0) >= V }) { throw ModelError("token id \(bad) is outside the vocabulary of \(V)") }
            let n = s.count
            if n == 1 { return [] }
            let logits = forward.run(tokens: s, slots: [Int32](repeating: 0, count: n), positions: (0..<n).map(Int32.init),
                                     logitRows: Array(0..<(n - 1)))
            return (0..<(n - 1)).map { r in Float(Self.logSumExp(logits + r * V, V).of(s[r + 1])) }
        }
    }
}
