import Kernels

/// AdamW's moments of the trainable parameters (whole, as a checkpoint holds them) and the step.
public struct OptimizerState {
    public let m: FloatBuffer, v: FloatBuffer
    public let step: Int
    public init(m: FloatBuffer, v: FloatBuffer, step: Int) { self.m = m; self.v = v; self.step = step }
}

/// Gradients and AdamW moments beside a model's trainable parameters (its adapters when attached), and
/// the step that uses them: forward, backward, optional clipping, AdamW. Every buffer is allocated once;
/// a step with the same batch shape as the last allocates nothing.
///
/// Under ZeRO-1 the trainer owns one `shard` of the flat trainable buffer: its moments cover only that
/// range and its update writes only there (the gradients stay whole: the backward fills all of them).
public final class Trainer: @unchecked Sendable {
    public let model: LlamaModel
    public let grads: FloatBuffer
    /// The moments of `shard` (index 0 = the shard's first parameter).
    public let m: FloatBuffer
    public let v: FloatBuffer
    /// The range of the trainable buffer this trainer updates: all of it unless the optimizer is sharded.
    public let shard: Range<Int>
    public let workspace: Workspace
    public var settings: AdamWSettings
    /// Global gradient-norm clipping threshold (nil: no clipping).
    public var maxGradNorm: Float?
    /// Optimizer steps taken so far.
    public var step = 0
    let spans: [AdamW.Span]
    let dlogprob = Scratch()

    public struct StepResult: Sendable {
        /// Mean negative log-likelihood over the scored tokens.
        public var loss: Double
        /// Gradient norm before clipping.
        public var gradNorm: Float
        public var tokens: Int
        public init(loss: Double, gradNorm: Float, tokens: Int) { self.loss = loss; self.gradNorm = gradNorm; self.tokens = tokens }
    }

    public init(model: LlamaModel, settings: AdamWSettings, maxGradNorm: Float? = 1.0, shard: Range<Int>? = nil) {
        self.model = model
        self.settings = settings
        self.maxGradNorm = maxGradNorm
        let count = model.trainable.count
        let shard = shard ?? 0..<count
        precondition(shard.lowerBound >= 0 && shard.upperBound <= count, "optimizer shard outside the trainable parameters")
        self.shard = shard
        grads = FloatBuffer(count: count)
        m = FloatBuffer(count: shard.count)
        v = FloatBuffer(count: shard.count)
        workspace = Workspace(config: model.config)
        spans = model.trainableSpans.compactMap { s in
            let lo = max(s.offset, shard.lowerBound), hi = min(s.offset + s.count, shard.upperBound)
            return hi > lo ? AdamW.Span(offset: lo - shard.lowerBound, count: hi - lo, decay: s.decay) : nil
        }
    }

    /// Whether the last update was skipped because its gradient norm or loss was not finite.
    public private(set) var lastUpdateSkipped = false
    /// Whether some rank had been asked to stop (preemption) by the last synchronized update.
    public var stopRequestedAnywhere = false

    /// Whether the moments cover only a part of the trainable parameters.
    public var isSharded: Bool { shard.count != grads.count }

    /// The moments and step, when this trainer holds all of them (not sharded).
    public var wholeState: OptimizerState? { isSharded ? nil : OptimizerState(m: m, v: v, step: step) }

    /// ZeRO's cut of `count` trainable values over `ranks`: rank r owns bounds[r]..<bounds[r + 1], cut at
    /// multiples of 16 values. A function of the count and the rank count alone.
    public static func shardBounds(count: Int, ranks: Int) -> [Int] {
        (0...ranks).map { r in r == ranks ? count : count * r / ranks / 16 * 16 }
    }

    /// One optimizer step of mean NLL on a packed batch: the loss is the mean over rows whose target is
    /// not masked (-1). `lr` overrides the settings' learning rate (for schedules).
    @discardableResult
    public func trainStep(ids: [Int32], targets: [Int32], packing: Packing, lr: Float? = nil) -> StepResult {
        grads.zero()
        let (sum, count) = accumulateNLL(ids: ids, targets: targets, packing: packing, scale: nil)
        let norm = applyUpdate(lr: lr, lossIsFinite: sum.isFinite)
        return StepResult(loss: count > 0 ? -sum / Double(count) : 0, gradNorm: norm, tokens: count)
    }

    /// Adds the gradient of `scale * sum of -logprob` over scored rows (scale defaults to 1/scored
    /// count) to `grads` without touching the weights. Returns (sum of log-probs, scored rows).
    @discardableResult
    public func accumulateNLL(ids: [Int32], targets: [Int32], packing: Packing, scale: Double?) -> (Double, Int) {
        let sum = model.forward(ids: ids, targets: targets, packing: packing, workspace: workspace)
        var count = 0
        for t in targets where t >= 0 { count += 1 }
        let g = Float(-(scale ?? (count > 0 ? 1 / Double(count) : 0)))
        let d = dlogprob.ensure(packing.tokens)
        for (r, t) in targets.enumerated() { d[r] = t >= 0 ? g : 0 }
        model.backward(dlogprob: d, grads: grads, workspace: workspace)
        return (sum, count)
    }

    /// Clips (if configured) and applies AdamW to the shard's accumulated gradients. `globalNorm` is the whole
    /// gradient's norm when a sharded trainer learned it from every rank; else it is computed here. Returns
    /// the pre-clip norm. When that norm is not finite, or the caller says the step's loss is not, nothing
    /// changes (weights, moments, step count) and `lastUpdateSkipped` says so: the caller decides whether
    /// training stops or goes on.
    @discardableResult
    public func applyUpdate(lr: Float? = nil, globalNorm: Float? = nil, lossIsFinite: Bool = true) -> Float {
        let g = grads.pointer + shard.lowerBound, n = shard.count
        let norm = globalNorm ?? GradientClipping.globalNorm(g, count: n)
        lastUpdateSkipped = !(norm.isFinite && lossIsFinite)
        if lastUpdateSkipped { return norm }
        if let maxNorm = maxGradNorm { GradientClipping.scale(g, count: n, norm: norm, maxNorm: maxNorm) }
        step += 1
        AdamW.step(params: model.trainable.pointer + shard.lowerBound, grads: g, m: m.pointer, v: v.pointer, spans: spans,
                   step: step, lr: lr ?? settings.learningRate, settings: settings)
        return norm
    }
}
