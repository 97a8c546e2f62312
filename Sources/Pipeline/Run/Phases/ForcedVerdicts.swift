import Alignment
import Foundation
import Generation
import Kernels

/// Self-Taught Evaluator outputs that always end in a verdict: the policy writes its judgment up to "[["
/// (or its token limit), then the verdict letter is drawn from its own probabilities of "[[A" and "[[B"
/// after what it wrote (tempered by the phase's temperature; the more likely one at temperature 0, A on a
/// tie) and "[[X]]" is appended. A judgment cut by the limit gets its verdict on a new line.
enum ForcedVerdicts {
    static let marker = LogprobPairwiseJudge.prefix   // "[[", as the pairwise judges force it

    /// The policy's log-probabilities of "[[A" and "[[B" after each prompt (token ids) and what was written
    /// after it (encoded with the marker and letter), sharded over the ranks; a sequence longer than the
    /// context keeps its last tokens.
    static func letterLogprobs(_ ctx: RunContext, prompts: [[Int32]], written: [String], batchSize: Int) throws -> [[Double]] {
        let trees = try zip(prompts, written).map { prompt, text in
            try ScoringTree(sequences: ["A", "B"].map { prompt + ctx.tokenizer.encode(text + marker + $0, parseSpecial: false) },
                            context: ctx.policy.config.maxPositions)
        }
        return try ctx.cluster.score(trees: trees, chunkSize: batchSize, local: Generator(model: ctx.policy, tokenizer: ctx.tokenizer, batchSize: batchSize))
    }

    static func apply(_ ctx: RunContext, _ at: PhaseStep, questions: [Problem], results: [GenerationResult],
                      params: SamplingParameters, batchSize: Int) throws -> [GenerationResult] {
        let written = results.map { $0.finishReason == "length" ? $0.text + "\n" : $0.text }
        let prompts = questions.map { ctx.task.promptIds($0) }  // once per question, not per sample
        let logps = try letterLogprobs(ctx, prompts: results.map { prompts[$0.promptIndex] }, written: written, batchSize: batchSize)
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
