import Kernels

/// Gradients and AdamW moments beside a model's trainable parameters (its adapters when attached), and
/// the step that uses them: forward, backward, optional clipping, AdamW. Every buffer is allocated once; a step with the same batch shape as the
/// last allocates nothing.
public final class Trainer: @unchecked Sendable {
    public let model: LlamaModel
    public let grads: FloatBuffer
    public let m: FloatBuffer
    public let v: FloatBuffer
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

    public init(model: LlamaModel, settings: AdamWSettings, maxGradNorm: Float? = 1.0) {
        self.model = model
        self.settings = settings
        self.maxGradNorm = maxGradNorm
        let count = model.trainable.count
        grads = FloatBuffer(count: count)
        m = FloatBuffer(count: count)
        v = FloatBuffer(count: count)
        workspace = Workspace(config: model.config)
        spans = model.trainableSpans
    }

    /// One optimizer step of mean NLL on a packed batch: the loss is the mean over rows whose target is
    /// not masked (-1). `lr` overrides the settings' learning rate (for schedules).
    @discardableResult
    public func trainStep(ids: [Int32], targets: [Int32], packing: Packing, lr: Float? = nil) -> StepResult {
        grads.zero()
        let (sum, count) = accumulateNLL(ids: ids, targets: targets, packing: packing, scale: nil)
        let norm = applyUpdate(lr: lr)
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

    /// Clips (if configured) and applies AdamW to the accumulated gradients. Returns the pre-clip norm.
    @discardableResult
    public func applyUpdate(lr: Float? = nil) -> Float {
        let norm: Float
        if let maxNorm = maxGradNorm {
            norm = GradientClipping.clip(grads.pointer, count: grads.count, maxNorm: maxNorm)
        } else {
            norm = GradientClipping.globalNorm(grads.pointer, count: grads.count)
        }
        step += 1
        AdamW.step(params: model.trainable.pointer, grads: grads.pointer, m: m.pointer, v: v.pointer, spans: spans,
                   step: step, lr: lr ?? settings.learningRate, settings: settings)
        return norm
    }
}
