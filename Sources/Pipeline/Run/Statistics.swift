import Foundation
import Kernels

/// Intervals and tests for evaluation results.
public enum Statistics {
    /// Wilson score interval for k successes in n trials at 95% (z = 1.959964).
    public static func wilson(successes k: Int, trials n: Int, z: Double = 1.959964) -> (low: Double, high: Double) {
        guard n > 0 else { return (0, 1) }
        let p = Double(k) / Double(n), nn = Double(n)
        let denom = 1 + z * z / nn
        let center = (p + z * z / (2 * nn)) / denom
        let half = z * (p * (1 - p) / nn + z * z / (4 * nn * nn)).squareRoot() / denom
        return (max(0, center - half), min(1, center + half))
    }

    /// Exact two-sided McNemar test on paired outcomes: b = right before and wrong after, c = wrong before
    /// and right after. p = min(1, 2 * P(X <= min(b, c))) with X ~ Binomial(b + c, 1/2).
    public static func mcnemar(b: Int, c: Int) -> Double {
        let n = b + c
        guard n > 0 else { return 1 }
        let k = min(b, c)
        // log-space binomial terms for large n
        var total = 0.0
        let logHalfN = Double(n) * log(0.5)
        for i in 0...k { total += exp(logChoose(n, i) + logHalfN) }
        return min(1, 2 * total)
    }

    static func logChoose(_ n: Int, _ k: Int) -> Double { lgamma(Double(n + 1)) - lgamma(Double(k + 1)) - lgamma(Double(n - k + 1)) }

    /// McNemar on two aligned lists of outcomes.
    public static func mcnemar(before: [Bool], after: [Bool]) -> (b: Int, c: Int, p: Double) {
        var b = 0, c = 0
        for (x, y) in zip(before, after) {
            if x && !y { b += 1 }
            if !x && y { c += 1 }
        }
        return (b, c, mcnemar(b: b, c: c))
    }

    /// Percentile bootstrap 95% interval of the mean of `values` (resampled with replacement `reps` times
    /// from a stream keyed by `seed`); (0, 1) when there are no values.
    public static func bootstrapMean(_ values: [Double], reps: Int = 2000, seed: UInt64) -> (low: Double, high: Double) {
        guard !values.isEmpty else { return (0, 1) }
        var rng = RandomStream(key: seed, StreamTag.bootstrap.rawValue)
        var means = (0..<reps).map { _ in (0..<values.count).reduce(0.0) { s, _ in s + values[rng.int(below: values.count)] } / Double(values.count) }
        means.sort()
        return (means[Int(0.025 * Double(reps - 1))], means[Int((0.975 * Double(reps - 1)).rounded(.up))])
    }

    /// Spearman rank correlation (ties take their average rank); nil with fewer than two points or a
    /// constant list.
    public static func spearman(_ x: [Double], _ y: [Double]) -> Double? {
        guard x.count == y.count, x.count >= 2 else { return nil }
        func ranks(_ v: [Double]) -> [Double] {
            let order = v.indices.sorted { v[$0] < v[$1] }
            var r = [Double](repeating: 0, count: v.count)
            var i = 0
            while i < order.count {
                var j = i
                while j + 1 < order.count && v[order[j + 1]] == v[order[i]] { j += 1 }
                for k in i...j { r[order[k]] = Double(i + j) / 2 + 1 }
                i = j + 1
            }
            return r
        }
        let rx = ranks(x), ry = ranks(y)
        let mx = rx.reduce(0, +) / Double(rx.count), my = ry.reduce(0, +) / Double(ry.count)
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for (a, b) in zip(rx, ry) { sxy += (a - mx) * (b - my); sxx += (a - mx) * (a - mx); syy += (b - my) * (b - my) }
        guard sxx > 0, syy > 0 else { return nil }
        return sxy / (sxx * syy).squareRoot()
    }

    public static func meanAndSD(_ xs: [Double]) -> (mean: Double, sd: Double) {
        guard !xs.isEmpty else { return (0, 0) }
        let m = xs.reduce(0, +) / Double(xs.count)
        let v = xs.count > 1 ? xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1) : 0
        return (m, v.squareRoot())
    }
}
