import Testing
import Foundation
import Kernels
import Model
import Tokenizer
import Generation
import TestSupport

@Suite(.serialized) struct GeneratorTests {
    static let model: LlamaModel = {
        var c = LlamaConfig.named("micro", vocabSize: 96)!
        c.eosTokenIds = [3]
        return LlamaModel.randomlyInitialised(config: c, seed: 21, std: 0.3)
    }()

    static func requests(samples: Int) -> [GenerationRequest] {
        let prompts: [[Int32]] = [[5, 6, 7], [8, 9, 10, 11, 12, 13, 14], [15], [16, 17, 18, 19, 20], [21, 22],
                                  Array(30..<70)]
        return prompts.enumerated().flatMap { i, p in (0..<samples).map { GenerationRequest(promptIndex: i, sampleIndex: $0, prompt: p) } }
    }

    @Test func samplesDoNotDependOnBatchSizeOrQueueOrder() throws {
        var params = SamplingParameters()
        params.temperature = 0.9; params.topP = 0.95; params.topK = 40; params.maxNewTokens = 24; params.seed = 7
        let reqs = GeneratorTests.requests(samples: 3)
        let reference = try Generator(model: GeneratorTests.model, tokenizer: nil, batchSize: 1).generate(reqs, params: params)
        #expect(reference.contains { $0.finishReason == "stop" } && reference.contains { $0.finishReason == "length" })
        #expect(Set(reference.map(\.tokens)).count > 10)  // samples differ from one another
        for batch in [3, 8] {
            for threads in [1, 2] {
                Parallel.threads = threads
                let got = try Generator(model: GeneratorTests.model, tokenizer: nil, batchSize: batch).generate(reqs, params: params)
                #expect(got == reference, "batch \(batch), \(threads) threads")
            }
        }
        Parallel.threads = Parallel.defaultThreadCount()
        // Reversed queue: each (prompt, sample) still gets the same tokens.
        let reversed = try Generator(model: GeneratorTests.model, tokenizer: nil, batchSize: 3).generate(reqs.reversed(), params: params)
        #expect(Array(reversed.reversed()) == reference)
        // A different round draws different samples.
        params.round = 1
        let other = try Generator(model: GeneratorTests.model, tokenizer: nil, batchSize: 3).generate(reqs, params: params)
        #expect(other.map(\.tokens) != reference.map(\.tokens))
    }

    /// A generator keeps its key/value cache between calls: what the cache held before changes nothing,
    /// and a call that needs more room gets a new one. Pure sampling (no top-k/top-p) at batch 4 against
    /// batch 1.
    @Test func aReusedGeneratorGivesWhatAFreshOneGives() throws {
        var params = SamplingParameters()
        params.temperature = 1; params.maxNewTokens = 16; params.seed = 5
        let long = GeneratorTests.requests(samples: 2), short = Array(GeneratorTests.requests(samples: 1).prefix(4))
        func fresh(_ reqs: [GenerationRequest]) throws -> [GenerationResult] {
            try Generator(model: GeneratorTests.model, tokenizer: nil, batchSize: 1).generate(reqs, params: params)
        }
        let kept = Generator(model: GeneratorTests.model, tokenizer: nil, batchSize: 4)
        #expect(try kept.generate(long, params: params) == fresh(long))
        #expect(try kept.generate(short, params: params) == fresh(short))  // fits in the kept cache
        params.maxNewTokens = 40
        #expect(try kept.generate(long, params: params) == fresh(long))  // needs a larger one
    }

    @Test func returnedLogprobsEqualAFullForwardOverTheGeneratedSequence() throws {
        var params = SamplingParameters()
        params.temperature = 1.0; params.maxNewTokens = 20; params.ignoreEOS = true; params.seed = 3
        let reqs = GeneratorTests.requests(samples: 2)
        let results = try Generator(model: GeneratorTests.model, tokenizer: nil, batchSize: 4).generate(reqs, params: params)
        for (r, res) in zip(reqs, results) {
            #expect(res.tokens.count == 20 && res.finishReason == "length")
            let full = try GeneratorTests.model.tokenLogProbs([r.prompt + res.tokens])[0]
            let scored = Array(full[(r.prompt.count - 1)...])
            for (a, b) in zip(scored, res.tokenLogprobs) { #expect(abs(a - b) < 1e-4, "\(a) vs \(b)") }
        }
    }

    @Test func greedyDecodingFollowsTheFullForwardArgmax() throws {
        var params = SamplingParameters()
        params.temperature = 0; params.maxNewTokens = 12; params.ignoreEOS = true
        let prompt: [Int32] = [10, 20, 30, 40]
        let res = try Generator(model: GeneratorTests.model, tokenizer: nil, batchSize: 2)
            .generate([GenerationRequest(promptIndex: 0, sampleIndex: 0, prompt: prompt)], params: params)[0]
        var seq = prompt
        let ws = Workspace(config: GeneratorTests.model.config)
        for t in res.tokens {
            GeneratorTests.model.forward(ids: seq, targets: Array(repeating: -1, count: seq.count), packing: Packing(lengths: [seq.count]), workspace: ws)
            let row = ws.logitsRow(seq.count - 1)
            var best = 0
            for v in 1..<row.count where row[v] > row[best] { best = v }
            #expect(Int32(best) == t)
            seq.append(t)
        }
    }

    @Test func stopsAndLimits() throws {
        let model = GeneratorTests.model
        var params = SamplingParameters()
        params.temperature = 0; params.maxNewTokens = 40
        // End-of-sequence: take the greedy run without EOS, then declare its fifth token the EOS token.
        params.ignoreEOS = true
        let prompt: [Int32] = [5, 6]
        let free = try Generator(model: model, tokenizer: nil, batchSize: 1)
            .generate([GenerationRequest(promptIndex: 0, sampleIndex: 0, prompt: prompt)], params: params)[0]
        var c = model.config
        c.eosTokenIds = [Int(free.tokens[4])]
        let withEOS = LlamaModel(config: c, params: model.params)
        params.ignoreEOS = false
        let r = try Generator(model: withEOS, tokenizer: nil, batchSize: 1)
            .generate([GenerationRequest(promptIndex: 0, sampleIndex: 0, prompt: prompt)], params: params)[0]
        let first = free.tokens.firstIndex(of: free.tokens[4])!
        #expect(r.finishReason == "stop" && r.tokens == Array(free.tokens[..<first]))
        // max new tokens
        params.maxNewTokens = 5; params.ignoreEOS = true
        let five = try Generator(model: model, tokenizer: nil, batchSize: 1)
            .generate([GenerationRequest(promptIndex: 0, sampleIndex: 0, prompt: [5, 6])], params: params)[0]
        #expect(five.tokens.count == 5 && five.finishReason == "length")
        // Prompts longer than the context: refused naming the prompt, or cut when allowed.
        let long = GenerationRequest(promptIndex: 4, sampleIndex: 0, prompt: Array(repeating: 7, count: c.maxPositions + 3))
        #expect(throws: GenerationError.self) { try Generator(model: model, tokenizer: nil, batchSize: 1).generate([long], params: params) }
        do { _ = try Generator(model: model, tokenizer: nil, batchSize: 1).generate([long], params: params) } catch {
            #expect("\(error)".contains("prompt 4"))
        }
        params.truncatePrompts = true
        let cut = try Generator(model: model, tokenizer: nil, batchSize: 1).generate([long], params: params)[0]
        #expect(cut.tokens.count == 5)
    }

    @Test func stopStringsCutTheText() throws {
        let tok = BPETokenizer.bytes()
        var c = LlamaConfig.named("micro", vocabSize: tok.vocabularySize)!
        c.eosTokenIds = [256]
        let model = LlamaModel.randomlyInitialised(config: c, seed: 4, std: 0.3)
        var params = SamplingParameters()
        params.temperature = 1.2; params.maxNewTokens = 60; params.seed = 1; params.ignoreEOS = true
        let req = GenerationRequest(promptIndex: 0, sampleIndex: 0, prompt: tok.encode("ab"))
        let free = try Generator(model: model, tokenizer: tok, batchSize: 1).generate([req], params: params)[0]
        #expect(free.tokens.count == 60)
        // Stop at the text of tokens 10..12 of the free run.
        let stopText = tok.decode(Array(free.tokens[10..<12]))
        params.stop = [stopText]
        let stopped = try Generator(model: model, tokenizer: tok, batchSize: 1).generate([req], params: params)[0]
        #expect(stopped.finishReason == "stop")
        #expect(stopped.tokens.count <= 12 && stopped.tokens == Array(free.tokens.prefix(stopped.tokens.count)))
        #expect(!stopped.text.contains(stopText) && free.text.hasPrefix(stopped.text))
    }
}

struct SamplerTests {
    /// The blocked search picks the same index as a plain running sum over the weights, never a zero
    /// weight, and the first and last positive weights at u = 0 and u just below 1.
    @Test func blockedPickMatchesARunningSum() {
        var rng = RandomStream(seed: 4)
        let n = 1000  // 15 full blocks of 64 and one of 40
        var w = (0..<n).map { _ in rng.uniform() < 0.3 ? Float(0) : Float(rng.uniform()) }
        w[0] = 0; w[n - 1] = 0
        let blocks = (n + Sampler.pickBlock - 1) / Sampler.pickBlock
        let sums = (0..<blocks).map { b in w[(b * Sampler.pickBlock)..<min(n, (b + 1) * Sampler.pickBlock)].reduce(0.0) { $0 + Double($1) } }
        let total = sums.reduce(0, +)
        func plain(_ u: Double) -> Int {
            var target = u * total
            for i in 0..<n where w[i] > 0 { target -= Double(w[i]); if target < 0 { return i } }
            return w.lastIndex { $0 > 0 }!
        }
        w.withUnsafeBufferPointer { wp in
            sums.withUnsafeBufferPointer { sp in
                func pick(_ u: Double) -> Int { Sampler.pick(wp.baseAddress!, n, blockSums: sp.baseAddress!, u: u) }
                for _ in 0..<5000 {
                    let u = rng.uniform(), i = pick(u)
                    #expect(i == plain(u) && w[i] > 0)
                }
                #expect(pick(0) == w.firstIndex { $0 > 0 }!)
                #expect(pick(1 - 1e-12) == w.lastIndex { $0 > 0 }!)
            }
        }
    }

    /// Draw frequencies against the distribution each setting defines (computed by hand from p = 0.5,
    /// 0.3, 0.15, 0.05).
    @Test func temperatureTopKAndTopPFollowTheirDefinitions() {
        let p: [Double] = [0.5, 0.3, 0.15, 0.05]
        let logits = p.map { Float(log($0)) + 2 }  // a constant shift changes nothing
        func frequencies(_ params: SamplingParameters, draws: Int = 40000) -> [Double] {
            var counts = [Double](repeating: 0, count: p.count)
            logits.withUnsafeBufferPointer { l in
                for d in 0..<draws {
                    var rng = RandomStream(key: 9, UInt64(d))
                    counts[Int(Sampler.sample(l.baseAddress!, vocab: p.count, params: params, rng: &rng).token)] += 1
                }
            }
            return counts.map { $0 / Double(draws) }
        }
        func close(_ a: [Double], _ b: [Double]) -> Bool { zip(a, b).allSatisfy { abs($0 - $1) < 0.01 } }
        var s = SamplingParameters()
        #expect(close(frequencies(s), p))
        s.temperature = 0.5  // p^2 renormalised
        let sq = p.map { $0 * $0 }, z = sq.reduce(0, +)
        #expect(close(frequencies(s), sq.map { $0 / z }))
        s.temperature = 1; s.topK = 2
        #expect(close(frequencies(s), [0.625, 0.375, 0, 0]))
        s.topK = 0; s.topP = 0.9  // 0.5 + 0.3 + 0.15 = 0.95 >= 0.9 keeps three
        #expect(close(frequencies(s), [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0]))
        s.topP = 0.45  // the first token alone (0.5) reaches it
        #expect(frequencies(s, draws: 2000) == [1, 0, 0, 0])
        s.topP = 1; s.temperature = 0
        #expect(frequencies(s, draws: 100) == [1, 0, 0, 0])
        // The returned log-prob is the model's (temperature 1), whatever the sampling settings.
        logits.withUnsafeBufferPointer { l in
            var rng = RandomStream(seed: 1)
            let (t, lp) = Sampler.sample(l.baseAddress!, vocab: 4, params: s, rng: &rng)
            #expect(t == 0 && abs(Double(lp) - log(0.5)) < 1e-6)
        }
    }
}
