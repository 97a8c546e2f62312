import Foundation
import Kernels

/// How to pick tokens and when to stop. Defaults: temperature 1, no top-k (0), no nucleus (top-p 1),
/// 256 new tokens, no stop strings.
public struct SamplingParameters: Sendable, Equatable, Codable {
    /// 0 means greedy.
    public var temperature: Float = 1
    /// Keep only the k most likely tokens (0: all).
    public var topK: Int = 0
    /// Keep the smallest set of most likely tokens whose probability reaches topP (1: all).
    public var topP: Float = 1
    public var maxNewTokens: Int = 256
    /// Generation stops once the text contains one of these; the text is cut before it.
    public var stop: [String] = []
    /// Keep going past end-of-sequence tokens (for benchmarks).
    public var ignoreEOS = false
    /// Random streams are keyed by (seed, round, prompt index, sample index).
    public var seed: UInt64 = 0
    public var round: UInt64 = 0
    /// Cut over-long prompts to their last tokens instead of refusing them.
    public var truncatePrompts = false

    public init() {}

    /// The ranges every sampling setting must keep to, in one place: the run config and the command
    /// line both check through here. The first setting out of range, by its config key, or nil.
    public func problem() -> (key: String, message: String)? {
        if !(temperature >= 0 && temperature <= SamplingParameters.maximumTemperature) {
            return ("temperature", "must be in 0...\(Int(SamplingParameters.maximumTemperature)) (0: greedy), got \(temperature)")
        }
        if !(topP > 0 && topP <= 1) { return ("top_p", "must be in (0, 1], got \(topP)") }
        if topK < 0 { return ("top_k", "must be at least 0 (0: off), got \(topK)") }
        if !(1...SamplingParameters.maximumNewTokens).contains(maxNewTokens) {
            return ("max_new_tokens", "must be in 1...\(SamplingParameters.maximumNewTokens), got \(maxNewTokens)")
        }
        if stop.contains("") { return ("stop", "a stop string must not be empty") }
        return nil
    }

    public static let maximumTemperature: Float = 10
    public static let maximumNewTokens = 4096

    /// `problem()` as an error naming the command-line flag (`--top-p`).
    public func validate() throws {
        if let (key, message) = problem() { throw GenerationError("--\(key.replacingOccurrences(of: "_", with: "-")) \(message)") }
    }
}

public struct GenerationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Token selection from one row of logits. Depends only on the logits and the random stream.
public enum Sampler {
    /// Picks a token with `params` (temperature, then top-k, then top-p, as Hugging Face orders them) and
    /// returns it with the model's own log-probability of it: log softmax(logits) at temperature 1.
    public static func sample(_ logits: UnsafePointer<Float>, vocab: Int, params: SamplingParameters,
                              rng: inout RandomStream) -> (token: Int32, logprob: Float) {
        let m = VectorMath.max(logits, vocab)
        let logZ = Double(m) + Foundation.log(Double(VectorMath.expShiftSumReadOnly(logits, vocab, shift: m)))
        let token: Int
        if params.temperature == 0 || params.topK == 1 {
            var best = 0
            for i in 1..<vocab where logits[i] > logits[best] { best = i }
            token = best
        } else {
            token = draw(logits, vocab: vocab, max: m, params: params, rng: &rng)
        }
        return (Int32(token), Float(Double(logits[token]) - logZ))
    }

    public static let pickBlock = 64

    /// The index where u * total falls in the running sum of `w` (0 <= u < 1): the block by the block sums
    /// (each `pickBlock` weights, the last possibly fewer), then the weight within it. Only a weight
    /// above zero is ever picked.
    public static func pick(_ w: UnsafePointer<Float>, _ n: Int, blockSums: UnsafePointer<Double>, u: Double) -> Int {
        let blocks = (n + pickBlock - 1) / pickBlock
        var total = 0.0
        for b in 0..<blocks { total += blockSums[b] }
        var target = u * total
        var lastBlock = -1
        for b in 0..<blocks where blockSums[b] > 0 {
            lastBlock = b
            if target >= blockSums[b] { target -= blockSums[b]; continue }
            break
        }
        guard lastBlock >= 0 else { return n - 1 }
        let lo = lastBlock * pickBlock, hi = min(n, lo + pickBlock)
        var last = lo
        for i in lo..<hi where w[i] > 0 {
            last = i
            target -= Double(w[i])
            if target < 0 { return i }
        }
        return last  // rounding between the block sum and its weights
    }

    static func draw(_ logits: UnsafePointer<Float>, vocab: Int, max m: Float, params: SamplingParameters,
                     rng: inout RandomStream) -> Int {
        // Unnormalised probabilities exp((l - max) / T) in float (vectorised), with their sums per block.
        let invT = 1 / params.temperature
        let blocks = (vocab + pickBlock - 1) / pickBlock
        var weightsF = [Float](repeating: 0, count: blocks * pickBlock)
        var blockSums = [Double](repeating: 0, count: blocks)
        weightsF.withUnsafeMutableBufferPointer { wf in
            let mv = VectorMath.V8(repeating: m), tv = VectorMath.V8(repeating: invT)
            for b in 0..<blocks {
                var i = b * pickBlock
                let end = min(vocab, i + pickBlock)
                var acc = VectorMath.V8()
                while i + 8 <= end {
                    let e = VectorMath.exp((VectorMath.load8(logits + i) - mv) * tv)
                    VectorMath.store8(e, wf.baseAddress! + i)
                    acc += e
                    i += 8
                }
                var sum = Double(acc.sum())
                while i < end { wf[i] = VectorMath.exp((logits[i] - m) * invT); sum += Double(wf[i]); i += 1 }
                blockSums[b] = sum
            }
        }
        let u = rng.uniform()
        if params.topK == 0 && params.topP >= 1 {
            return weightsF.withUnsafeBufferPointer { w in
                blockSums.withUnsafeBufferPointer { pick(w.baseAddress!, vocab, blockSums: $0.baseAddress!, u: u) }
            }
        }
        let weights = weightsF.prefix(vocab).map(Double.init)
        var total = 0.0
        for s in blockSums { total += s }
        // Candidates above a threshold, lowered until they provably contain the kept set: all of the top k,
        // and (for top-p) more than topP of the mass, so that tokens left out lie below every kept one.
        var eps = 1e-6
        var candidates: [Int] = []
        while true {
            candidates.removeAll(keepingCapacity: true)
            var mass = 0.0
            for i in 0..<vocab where weights[i] > eps { candidates.append(i); mass += weights[i] }
            let enoughK = params.topK == 0 || candidates.count >= min(params.topK, vocab)
            let enoughP = params.topK > 0 || mass > Double(params.topP) * total || candidates.count == vocab
            if (enoughK && enoughP) || eps == 0 { break }
            eps = eps < 1e-30 ? 0 : eps * 1e-4
        }
        candidates.sort { weights[$0] > weights[$1] || (weights[$0] == weights[$1] && $0 < $1) }
        if params.topK > 0 && candidates.count > params.topK { candidates.removeLast(candidates.count - params.topK) }
        var keptMass = candidates.reduce(0.0) { $0 + weights[$1] }
        if params.topP < 1 {
            let limit = Double(params.topP) * keptMass
            var cumulative = 0.0, keep = 0
            for idx in candidates {
                cumulative += weights[idx]
                keep += 1
                if cumulative >= limit { break }
            }
            candidates.removeLast(candidates.count - keep)
            keptMass = cumulative
        }
        var target = u * keptMass
        for idx in candidates {
            target -= weights[idx]
            if target < 0 { return idx }
        }
        return candidates.last!
    }
}
