import Alignment
import Foundation
import Generation
import Kernels

/// Self-Taught Evaluator outputs that always end in a verdict: the policy writes its judgment up to "[["
/// (or its token limit), then the verdict letter is drawn from its own probabilities of "[[A" and "[[B"
/// after what it wrote (tempered by the phase's temperature; the more likely one at temperature 0, A on a
/// tie) and "[[X]]" is appended. A judgment cut by the limit gets its verdict on a new line.
enum ForcedVerdicts {
    static let marker = "[["

    static func apply(_ ctx: RunContext, _ at: PhaseStep, questions: [Problem], results: [GenerationResult],
                      params: SamplingParameters, batchSize: Int) throws -> [GenerationResult] {
        let written = results.map { $0.finishReason == "length" ? $0.text + "\n" : $0.text }
        let prompts = questions.map { ctx.task.promptIds($0) }  // once per question, not per sample
        let trees = try zip(results, written).map { r, text -> ScoringTree in
            let prompt = prompts[r.promptIndex]
            return try ScoringTree(sequences: ["A", "B"].map { prompt + ctx.tokenizer.encode(text + marker + $0, parseSpecial: false) },
                                   context: ctx.policy.config.maxPositions)
        }
        let logps = try ctx.cluster.score(trees: trees, chunkSize: batchSize, local: Generator(model: ctx.policy, tokenizer: ctx.tokenizer, batchSize: batchSize))
        let temperature = Double(params.temperature)
        return zip(results, zip(written, logps)).map { r, wl in
            let (text, lp) = wl
            let pA: Double
            if temperature == 0 {
                pA = lp[0] >= lp[1] ? 1 : 0
            } else {
                pA = VerdictDistribution(candidates: ["A", "B"], logprobs: lp.map { $0 / temperature }).probabilities[0]
            }
            var rng = RandomStream(key: params.seed, StreamTag.forcedVerdict.rawValue, UInt64(at.round), UInt64(r.promptIndex), UInt64(r.sampleIndex))
            let letter = rng.uniform() < pA ? "A" : "B"
            var out = r
            out.text = text + marker + letter + "]]"
            out.tokens = ctx.tokenizer.encode(out.text, parseSpecial: false)
            out.finishReason = "stop"
            return out
        }
    }
}
