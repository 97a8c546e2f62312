import Foundation
import Kernels
import Model
import Tokenizer

/// Sample `sampleIndex` of prompt `promptIndex`.
public struct GenerationRequest: Sendable, Equatable, Codable {
    public var promptIndex: Int
    public var sampleIndex: Int
    public var prompt: [Int32]
    public init(promptIndex: Int, sampleIndex: Int, prompt: [Int32]) {
        self.promptIndex = promptIndex; self.sampleIndex = sampleIndex; self.prompt = prompt
    }
}

public struct GenerationResult: Sendable, Equatable, Codable {
    public var promptIndex: Int
    public var sampleIndex: Int
    /// Generated ids; an end-of-sequence token that stopped generation is not included.
    public var tokens: [Int32]
    /// The decoded text, cut before a stop string if one ended it.
    public var text: String
    /// The model's log-probability (temperature 1) of each generated token.
    public var tokenLogprobs: [Float]
    /// "stop" (end-of-sequence token or stop string) or "length" (max new tokens or the context).
    public var finishReason: String
    public var logprob: Double { tokenLogprobs.reduce(0.0) { $0 + Double($1) } }
}

/// Batched generation with a key/value cache and continuous batching: up to `batchSize` sequences run
/// together; when one finishes its slot is refilled from the queue. A sample's tokens depend only on
/// its prompt and its random stream (seed, round, prompt index, sample index): batch size, slot order
/// and queue position do not change them.
public final class Generator {
    public let model: LlamaModel
    public let tokenizer: BPETokenizer?
    public let batchSize: Int
    /// Most rows (prompt tokens being prefilled plus one per decoding sequence) in one forward pass.
    public var rowBudget = 2048

    /// The weights packed for decoding, made on first use and kept (the model must not change after).
    var packed: PackedWeights?
    /// The last call's forward pass (its key/value cache and scratch buffers).
    var forwardPass: BatchForward?

    public init(model: LlamaModel, tokenizer: BPETokenizer?, batchSize: Int) {
        self.model = model
        self.tokenizer = tokenizer
        self.batchSize = max(1, batchSize)
    }

    final class Active {
        let request: Int
        var rng: RandomStream
        var tokens: [Int32] = []
        var logprobs: [Float] = []
        var position: Int
        var pending: Int32 = -1
        init(request: Int, rng: RandomStream, position: Int) { self.request = request; self.rng = rng; self.position = position }
    }

    /// Generates for every request; results come back in request order. `onFinish` is called with the
    /// request index as each one completes.
    public func generate(_ requestsIn: [GenerationRequest], params: SamplingParameters,
                         onFinish: ((Int) -> Void)? = nil) throws -> [GenerationResult] {
        try params.validate()
        let c = model.config
        var requests = requestsIn
        for (k, r) in requests.enumerated() {
            guard !r.prompt.isEmpty else { throw GenerationError("prompt \(r.promptIndex) is empty") }
            if let bad = r.prompt.first(where: { $0 < 0 || Int($0) >= c.vocabSize }) {
                throw GenerationError("prompt \(r.promptIndex): token id \(bad) is outside the vocabulary of \(c.vocabSize)")
            }
            if r.prompt.count >= c.maxPositions {
                let keep = c.maxPositions - min(params.maxNewTokens, c.maxPositions / 2)
                guard params.truncatePrompts, keep >= 1 else {
                    throw GenerationError("prompt \(r.promptIndex) has \(r.prompt.count) tokens; the model's context is \(c.maxPositions) (allow truncation to keep its last tokens)")
                }
                requests[k].prompt = Array(r.prompt.suffix(keep))
            }
        }
        if requests.isEmpty { return [] }
        var promptsByIndex: [Int: [Int32]] = [:]
        for r in requests {
            if let seen = promptsByIndex[r.promptIndex], seen != r.prompt {
                throw GenerationError("prompt index \(r.promptIndex) is used for two different prompts")
            }
            promptsByIndex[r.promptIndex] = r.prompt
        }
        let longest = requests.map(\.prompt.count).max()!
        let capacity = min(c.maxPositions, longest + max(params.maxNewTokens, 1))
        let slotsCount = min(batchSize, requests.count)
        // The cache is kept for later calls that fit in it (its contents need no clearing: only positions
        // written in this call are read).
        // The cache and the forward pass's scratch buffers are kept for later calls that fit in them (the
        // cache needs no clearing: only positions written in this call are read).
        if let kept = forwardPass, kept.cache.slots < slotsCount || kept.cache.capacity < capacity { forwardPass = nil }
        if packed == nil { packed = PackedWeights(model) }
        let forward = forwardPass ?? BatchForward(model: model, cache: KVCache(config: c, slots: slotsCount, capacity: capacity),
                                                  weights: packed)
        forwardPass = forward
        let cache = forward.cache
        var eos = Set(c.eosTokenIds.map(Int32.init))
        if let e = tokenizer?.eosTokenId { eos.insert(e) }
        if params.ignoreEOS { eos.removeAll() }
        if !params.stop.isEmpty && tokenizer == nil { throw GenerationError("stop strings need a tokenizer") }

        var results = [GenerationResult?](repeating: nil, count: requests.count)
        var slots = [Active?](repeating: nil, count: slotsCount)
        // Which prompt's tokens occupy positions 0..<prompt.count of each slot's cache.
        var slotPrefix = [Int?](repeating: nil, count: slotsCount)
        // Logits after each prompt whose prefix is cached somewhere (for samples after the first).
        var promptLogits: [Int: [Float]] = [:]
        var next = 0

        func finish(_ s: Int, reason: String) {
            let a = slots[s]!
            let r = requests[a.request]
            var text = tokenizer?.decode(a.tokens) ?? ""
            if let t = tokenizer, !params.stop.isEmpty {
                text = t.decode(a.tokens)
                if let cut = params.stop.compactMap({ text.range(of: $0)?.lowerBound }).min() { text = String(text[..<cut]) }
            }
            results[a.request] = GenerationResult(promptIndex: r.promptIndex, sampleIndex: r.sampleIndex, tokens: a.tokens,
                                                  text: text, tokenLogprobs: a.logprobs, finishReason: reason)
            slots[s] = nil
            onFinish?(a.request)
        }

        /// Records a sampled token; returns whether the sequence goes on.
        func accept(_ s: Int, token: Int32, logprob: Float) -> Bool {
            let a = slots[s]!
            if eos.contains(token) { finish(s, reason: "stop"); return false }
            a.tokens.append(token)
            a.logprobs.append(logprob)
            if !params.stop.isEmpty, let t = tokenizer {
                let tail = t.decode(Array(a.tokens.suffix(32)))
                if params.stop.contains(where: { tail.contains($0) }) { finish(s, reason: "stop"); return false }
            }
            if a.tokens.count >= params.maxNewTokens || a.position >= capacity { finish(s, reason: "length"); return false }
            a.pending = token
            return true
        }

        var tokens: [Int32] = [], rowSlots: [Int32] = [], positions: [Int32] = []
        var logitRows: [Int] = [], logitSlots: [Int] = []
        while next < requests.count || slots.contains(where: { $0 != nil }) {
            tokens.removeAll(keepingCapacity: true); rowSlots.removeAll(keepingCapacity: true)
            positions.removeAll(keepingCapacity: true); logitRows.removeAll(keepingCapacity: true)
            logitSlots.removeAll(keepingCapacity: true)
            // Sequences already running feed their last token.
            for s in 0..<slotsCount {
                guard let a = slots[s], a.pending >= 0 else { continue }
                logitRows.append(tokens.count); logitSlots.append(s)
                tokens.append(a.pending); rowSlots.append(Int32(s)); positions.append(Int32(a.position))
                a.position += 1
                a.pending = -1
            }
            // Free slots take the next requests: from a cached prompt when possible, else by prefill.
            for s in 0..<slotsCount where slots[s] == nil && next < requests.count {
                let k = next
                let r = requests[k]
                let prompt = r.prompt
                if tokens.count + prompt.count > rowBudget && !tokens.isEmpty { break }
                next += 1
                let rng = RandomStream(key: params.seed, params.round, UInt64(r.promptIndex), UInt64(r.sampleIndex))
                let a = Active(request: k, rng: rng, position: prompt.count)
                slots[s] = a
                if params.maxNewTokens == 0 { finish(s, reason: "length"); continue }
                if let cached = promptLogits[r.promptIndex],
                   let source = (0..<slotsCount).first(where: { slotPrefix[$0] == r.promptIndex }) {
                    // Another sample of a prompt already run: copy its cached prefix and start from its logits.
                    cache.copyPrefix(from: source, to: s, count: prompt.count)
                    slotPrefix[s] = r.promptIndex
                    let (tok, lp) = cached.withUnsafeBufferPointer {
                        Sampler.sample($0.baseAddress!, vocab: c.vocabSize, params: params, rng: &a.rng)
                    }
                    _ = accept(s, token: tok, logprob: lp)
                    continue
                }
                slotPrefix[s] = nil  // until this forward pass has written the prompt
                for (p, t) in prompt.enumerated() {
                    tokens.append(t); rowSlots.append(Int32(s)); positions.append(Int32(p))
                }
                logitRows.append(tokens.count - 1); logitSlots.append(-1 - s)  // negative: first token after a prompt
            }
            if tokens.isEmpty { continue }
            let logits = forward.run(tokens: tokens, slots: rowSlots, positions: positions, logitRows: logitRows)
            for (i, code) in logitSlots.enumerated() where code < 0 {
                let s = -1 - code
                let r = requests[slots[s]!.request]
                slotPrefix[s] = r.promptIndex
                promptLogits[r.promptIndex] = Array(UnsafeBufferPointer(start: logits + i * c.vocabSize, count: c.vocabSize))
                // Keep only prompts that later requests may still need.
                if promptLogits.count > 2 * slotsCount + 2 {
                    let live = Set(slotPrefix.compactMap { $0 })
                    promptLogits = promptLogits.filter { live.contains($0.key) }
                }
            }
            // Every row draws from its own sequence's stream, so the rows are sampled in parallel and then
            // accepted in order.
            let active = logitSlots.map { slots[$0 >= 0 ? $0 : -1 - $0]! }
            var drawn = [(token: Int32, logprob: Float)](repeating: (0, 0), count: active.count)
            drawn.withUnsafeMutableBufferPointer { d in
                Parallel.tasks(active.count) { i in
                    d[i] = Sampler.sample(logits + i * c.vocabSize, vocab: c.vocabSize, params: params, rng: &active[i].rng)
                }
            }
            for (i, code) in logitSlots.enumerated() {
                _ = accept(code >= 0 ? code : -1 - code, token: drawn[i].token, logprob: drawn[i].logprob)
            }
        }
        return results.map { $0! }
    }
}
