import Foundation
import Kernels

/// Scoring sequences: per-token log-probabilities, each sequence run unpadded.
extension LlamaModel {
    /// For each sequence x, log p(x_{t+1} | x_0..x_t) for t = 0..n-2. Sequences are packed into batches of
    /// at most `tokenBudget` tokens; each is scored exactly as if run alone.
    public func tokenLogProbs(_ sequences: [[Int32]], tokenBudget: Int = 4096, workspace: Workspace? = nil) throws -> [[Float]] {
        if quantized != nil {
            throw ModelError("a quantized model scores through the inference path (Generator.tokenLogProbs), not the training forward")
        }
        let ws = workspace ?? Workspace(config: config)
        var results: [[Float]] = []
        var start = 0
        while start < sequences.count {
            var end = start, tokens = 0
            while end < sequences.count && (end == start || tokens + sequences[end].count <= tokenBudget) {
                tokens += sequences[end].count; end += 1
            }
            var packing = Packing()
            var ids: [Int32] = [], targets: [Int32] = []
            for s in sequences[start..<end] {
                guard !s.isEmpty else { throw ModelError("cannot score an empty sequence") }
                guard s.count <= config.maxPositions else {
                    throw ModelError("a sequence of \(s.count) tokens exceeds the model's context of \(config.maxPositions)")
                }
                if let bad = s.first(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
                    throw ModelError("token id \(bad) is outside the vocabulary of \(config.vocabSize)")
                }
                packing.append(length: s.count)
                ids += s
                targets += s.dropFirst() + [-1]
            }
            forward(ids: ids, targets: targets, packing: packing, workspace: ws, keepActivations: false)
            let lp = ws.logprob.pointer
            for (k, s) in sequences[start..<end].enumerated() {
                let r0 = packing.starts[k]
                results.append((0..<(s.count - 1)).map { lp[r0 + $0] })
            }
            start = end
        }
        return results
    }
}
