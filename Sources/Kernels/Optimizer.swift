import Foundation

/// AdamW with decoupled weight decay and bias correction, exactly as torch.optim.AdamW orders it:
/// p *= 1 - lr * wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
/// p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
public struct AdamWSettings: Sendable, Equatable, Codable {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var eps: Float
    public var weightDecay: Float
    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8,
                weightDecay: Float = 0) {
        self.learningRate = learningRate; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps
        self.weightDecay = weightDecay
    }
}

public enum AdamW {
    /// One contiguous range of the flat buffers and whether weight decay applies to it.
    public struct Span: Sendable {
        public var offset: Int, count: Int, decay: Bool
        public init(offset: Int, count: Int, decay: Bool) { self.offset = offset; self.count = count; self.decay = decay }
    }

    /// Updates params, m and v in place for step number `step` (1-based) with learning rate `lr`.
    public static func step(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
                            m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
                            spans: [Span], step: Int, lr: Float, settings: AdamWSettings) {
        let b1 = settings.beta1, b2 = settings.beta2
        let bc1 = 1 - Float(Foundation.pow(Double(b1), Double(step)))
        let bc2 = 1 - Float(Foundation.pow(Double(b2), Double(step)))
        let stepSize = lr / bc1, bc2Sqrt = bc2.squareRoot(), eps = settings.eps
        for span in spans {
            let decay: Float = span.decay ? 1 - lr * settings.weightDecay : 1
            let p = params + span.offset, g = grads + span.offset
            let mm = m + span.offset, vv = v + span.offset
            Parallel.range(span.count, grain: 1 << 14) { lo, hi in
                for i in lo..<hi {
                    let gi = g[i]
                    let mi = b1 * mm[i] + (1 - b1) * gi
                    let vi = b2 * vv[i] + (1 - b2) * gi * gi
                    mm[i] = mi; vv[i] = vi
                    p[i] = p[i] * decay - stepSize * mi / (vi.squareRoot() / bc2Sqrt + eps)
                }
            }
        }
    }
}

public enum GradientClipping {
    /// sqrt(sum g^2) over the whole buffer, accumulated in double over fixed chunks of 2^20 values, then
    /// the chunks in order: the same bits whatever the thread count.
    public static func globalNorm(_ grads: UnsafePointer<Float>, count: Int) -> Float {
        Float(sumOfSquares(grads, count: count).squareRoot())
    }

    /// sum g^2 in double, as `globalNorm` accumulates it.
    public static func sumOfSquares(_ grads: UnsafePointer<Float>, count: Int) -> Double {
        let parts = max(1, (count + (1 << 20) - 1) >> 20)
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: parts) { acc in
            let accp = acc.baseAddress!
            Parallel.tasks(parts) { p in
                let lo = p << 20, hi = min(count, (p + 1) << 20)
                accp[p] = VectorMath.sumSquaresDouble(grads + lo, hi - lo)
            }
            var total = 0.0
            for p in 0..<parts { total += accp[p] }
            return total
        }
    }

    /// Scales the gradients so their global norm is at most maxNorm (torch's clip_grad_norm_: coefficient
    /// maxNorm / (norm + 1e-6), applied only when below 1). Returns the norm before clipping.
    @discardableResult
    public static func clip(_ grads: UnsafeMutablePointer<Float>, count: Int, maxNorm: Float) -> Float {
        let norm = globalNorm(grads, count: count)
        scale(grads, count: count, norm: norm, maxNorm: maxNorm)
        return norm
    }

    /// The scaling of `clip` for gradients whose norm is `norm` (computed over a larger buffer, for ZeRO).
    public static func scale(_ grads: UnsafeMutablePointer<Float>, count: Int, norm: Float, maxNorm: Float) {
        let coef = maxNorm / (norm + 1e-6)
        if coef < 1 {
            Parallel.range(count, grain: 1 << 15) { lo, hi in VectorMath.scale(grads + lo, hi - lo, by: coef) }
        }
    }
}

/// Learning rate as a function of the optimizer step: constant, or linear warm-up followed by a constant
/// rate or a cosine decay to `minRatio` of the peak at `totalSteps`.
public struct LearningRateSchedule: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable { case constant, linear, cosine }
    public var kind: Kind
    public var peak: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    public var minRatio: Float

    public init(kind: Kind, peak: Float, warmupSteps: Int = 0, totalSteps: Int = 0, minRatio: Float = 0) {
        self.kind = kind; self.peak = peak; self.warmupSteps = warmupSteps; self.totalSteps = totalSteps
        self.minRatio = minRatio
    }

    /// The rate for 1-based step `step`: warm-up steps 1...W rise linearly to the peak (step W at the
    /// peak); the first step after warm-up is at the peak and the last (`totalSteps`) at minRatio * peak.
    public func rate(at step: Int) -> Float {
        if warmupSteps > 0 && step <= warmupSteps { return peak * Float(step) / Float(warmupSteps) }
        let span = max(1, totalSteps - warmupSteps - 1)
        let progress = min(1, max(0, Float(step - warmupSteps - 1) / Float(span)))
        switch kind {
        case .constant:
            return peak
        case .linear:
            return peak * (1 - (1 - minRatio) * progress)
        case .cosine:
            return peak * (minRatio + (1 - minRatio) * 0.5 * (1 + Float(Foundation.cos(Double.pi * Double(progress)))))
        }
    }
}
