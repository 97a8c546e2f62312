import Foundation

/// Rotary position embedding tables and the in-place rotation, in both layouts:
/// - `.halfSplit` (Hugging Face `rotate_half`): dimension i pairs with i + headDim/2;
/// - `.interleaved` (Meta's original and GGUF's): dimension 2i pairs with 2i + 1.
/// Both use frequency theta^(-2i/headDim) for pair i.
public enum RoPELayout: String, Sendable, Codable { case halfSplit, interleaved }

/// Llama 3.x's frequency scaling (`rope_type: llama3`): low frequencies divided by `factor`, high ones
/// kept, the band between blended, as transformers' `_compute_llama3_parameters` does (in float32).
public struct RoPEScaling: Sendable, Equatable {
    public var factor: Float, lowFreqFactor: Float, highFreqFactor: Float
    public var originalMaxPositions: Int
    public init(factor: Float, lowFreqFactor: Float, highFreqFactor: Float, originalMaxPositions: Int) {
        self.factor = factor; self.lowFreqFactor = lowFreqFactor; self.highFreqFactor = highFreqFactor
        self.originalMaxPositions = originalMaxPositions
    }

    public func scaled(_ invFreq: Float) -> Float {
        let old = Float(originalMaxPositions)
        let lowWavelen = old / lowFreqFactor, highWavelen = old / highFreqFactor
        let wavelen = Float(2 * Double.pi) / invFreq
        let base = wavelen > lowWavelen ? invFreq / factor : invFreq
        guard !(wavelen < highWavelen) && !(wavelen > lowWavelen) else { return base }
        let smooth = (old / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor)
        return (1 - smooth) * base / factor + smooth * base
    }
}

public final class RoPETable: @unchecked Sendable {
    public let headDim: Int
    public let maxPositions: Int
    public let theta: Float
    /// cos/sin[pos * headDim/2 + i]
    public let cos: FloatBuffer
    public let sin: FloatBuffer

    /// Angles are formed in float32 exactly as transformers does (inv_freq = 1 / theta^(2i/d) in float32,
    /// angle = float(pos) * inv_freq in float32), then cos/sin are rounded from double.
    public init(headDim: Int, maxPositions: Int, theta: Float, scaling: RoPEScaling? = nil) {
        self.headDim = headDim
        self.maxPositions = maxPositions
        self.theta = theta
        let half = headDim / 2
        cos = FloatBuffer(count: maxPositions * half)
        sin = FloatBuffer(count: maxPositions * half)
        for i in 0..<half {
            let plain: Float = 1 / Foundation.pow(theta, Float(2 * i) / Float(headDim))
            let invFreq = scaling?.scaled(plain) ?? plain
            for p in 0..<maxPositions {
                let angle = Float(p) * invFreq
                cos[p * half + i] = Float(Foundation.cos(Double(angle)))
                sin[p * half + i] = Float(Foundation.sin(Double(angle)))
            }
        }
    }
}

public enum RoPE {
    /// Rotates, in place, `heads` vectors of `table.headDim` per row. Row r starts at `x + r * rowStride`
    /// and sits at position `positions[r]`. `inverse` rotates by the negative angle, which is the backward.
    public static func apply(_ x: UnsafeMutablePointer<Float>, rows: Int, rowStride: Int, heads: Int,
                             positions: UnsafePointer<Int32>, table: RoPETable, layout: RoPELayout,
                             inverse: Bool = false) {
        let hd = table.headDim, half = hd / 2
        let cosT = table.cos.pointer, sinT = table.sin.pointer
        let sign: Float = inverse ? -1 : 1
        Parallel.range(rows, grain: 16) { lo, hi in
            for r in lo..<hi {
                let p = Int(positions[r])
                let c = cosT + p * half, s = sinT + p * half
                for h in 0..<heads {
                    let v = x + r * rowStride + h * hd
                    switch layout {
                    case .halfSplit:
                        for i in 0..<half {
                            let a = v[i], b = v[i + half]
                            let si = sign * s[i]
                            v[i] = a * c[i] - b * si
                            v[i + half] = b * c[i] + a * si
                        }
                    case .interleaved:
                        for i in 0..<half {
                            let a = v[2 * i], b = v[2 * i + 1]
                            let si = sign * s[i]
                            v[2 * i] = a * c[i] - b * si
                            v[2 * i + 1] = b * c[i] + a * si
                        }
                    }
                }
            }
        }
    }
}
