import Alignment
import Cluster
import Foundation
import Generation
import Logging
import Tokenizer

/// Thought Preference Optimization outputs that always have a response part (`data.thought_tokens`): the
/// model writes its thoughts up to the response marker or `thought_tokens` tokens (the first pass), then
/// "Here is my response:" is appended and the model writes its response after it (the second pass), in up
/// to max_new_tokens - thought_tokens tokens. The second pass samples with the same settings from its own
/// random streams: the seed combined with `StreamTag.thoughtResponse`, the output's position as prompt
/// index, sample 0. An output's text is thoughts, marker and response; its ids are that text encoded; its
/// log-prob sums the sampled tokens only.
enum ThoughtResponses {
    /// The first pass's settings: it also stops at the response marker, after at most `thoughtTokens`.
    static func thoughtParameters(_ p: SamplingParameters, thoughtTokens: Int) -> SamplingParameters {
        var q = p
        q.stop = Array(Set(p.stop + [ThoughtPrompt.responseMarker])).sorted()
        q.maxNewTokens = thoughtTokens
        return q
    }

    /// Outputs for `requests`: `firstPass` runs with `params` (nil `thoughtTokens`) or with the thought
    /// settings, and the responses after the forced marker follow. Generate phases and greedy passes alike.
    static func generate(cluster: Cluster, requests: [GenerationRequest], params: SamplingParameters, thoughtTokens: Int?, batchSize: Int,
                         local: Generator, tokenizer: BPETokenizer, logger: Logger? = nil, key: String = "",
                         firstPass: (SamplingParameters) throws -> [GenerationResult]) throws -> [GenerationResult] {
        guard let thoughtTokens else { return try firstPass(params) }
        let thoughts = try firstPass(thoughtParameters(params, thoughtTokens: thoughtTokens))
        logger?.info("\(key): \(thoughts.filter { $0.finishReason == "length" }.count) of \(thoughts.count) thoughts cut at \(thoughtTokens) tokens; the response marker is forced after each")
        return try respond(cluster: cluster, requests: requests, thoughts: thoughts, params: params, thoughtTokens: thoughtTokens,
                           batchSize: batchSize, local: local, tokenizer: tokenizer)
    }

    /// The second pass: each first-pass output (in request order) continued after the forced marker.
    private static func respond(cluster: Cluster, requests: [GenerationRequest], thoughts: [GenerationResult], params: SamplingParameters,
                                thoughtTokens: Int, batchSize: Int, local: Generator, tokenizer: BPETokenizer) throws -> [GenerationResult] {
        guard requests.count == thoughts.count else {
            throw PipelineError("thought responses: \(thoughts.count) first-pass outputs for \(requests.count) requests")
        }
        guard params.maxNewTokens > thoughtTokens else {
            throw PipelineError("thought responses: max_new_tokens \(params.maxNewTokens) leaves no room for a response after \(thoughtTokens) thought tokens")
        }
        let prefixes = thoughts.map(prefix)
        // One request per output, keyed by its position: (k, 0).
        let continued = try requests.indices.map { k -> GenerationRequest in
            let (q, t) = (requests[k], thoughts[k])
            guard t.promptIndex == q.promptIndex && t.sampleIndex == q.sampleIndex else {
                throw PipelineError("thought responses: output \(t.promptIndex)/\(t.sampleIndex) answers request \(q.promptIndex)/\(q.sampleIndex)")
            }
            return GenerationRequest(promptIndex: k, sampleIndex: 0, prompt: q.prompt + tokenizer.encode(prefixes[k], parseSpecial: false))
        }
        var second = params
        second.seed = StreamTag.thoughtResponse.seed(params.seed)
        second.maxNewTokens = params.maxNewTokens - thoughtTokens
        let responses = try cluster.generate(continued, params: second, batchSize: batchSize, chunkSize: batchSize, local: local)
        return zip(thoughts, zip(prefixes, responses)).map { t, pr in
            let (text, r) = pr
            var out = r
            out.promptIndex = t.promptIndex; out.sampleIndex = t.sampleIndex
            out.text = text + r.text
            out.tokens = tokenizer.encode(out.text, parseSpecial: false)
            out.tokenLogprobs = t.tokenLogprobs + r.tokenLogprobs
            return out
        }
    }

    /// The first pass's text with the marker appended (on a new line unless it ends one or is empty).
    static func prefix(_ thought: GenerationResult) -> String {
        let t = thought.text
        return t + (t.isEmpty || t.hasSuffix("\n") ? "" : "\n") + ThoughtPrompt.responseMarker
    }
}
