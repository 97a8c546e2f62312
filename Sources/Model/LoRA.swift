import Foundation
import Kernels

/// The projections a LoRA adapter can sit on, by their Hugging Face module names.
public enum LoRATarget: String, CaseIterable, Codable, Sendable {
    case q = "q_proj", k = "k_proj", v = "v_proj", o = "o_proj", gate = "gate_proj", up = "up_proj", down = "down_proj"

    /// `q`, `k`, ... as the command line and the config spell them.
    public var shortName: String { String(rawValue.dropLast(5)) }
    /// The module path inside a layer (`self_attn.q_proj`, `mlp.gate_proj`).
    public var module: String { [.gate, .up, .down].contains(self) ? "mlp." + rawValue : "self_attn." + rawValue }

    /// Accepts `q` or `q_proj`.
    public init?(name: String) {
        guard let t = LoRATarget.allCases.first(where: { $0.shortName == name || $0.rawValue == name }) else { return nil }
        self = t
    }
}

/// Low-rank adapters on chosen projections: W x becomes W x + (alpha / rank) B A x, with A [rank, in] and
/// B [out, rank] (PEFT's LoRA; no dropout, no bias).
public struct LoRAConfig: Codable, Equatable, Sendable {
    public var rank: Int
    public var alpha: Float
    /// In the canonical order q, k, v, o, gate, up, down, each once.
    public var targets: [LoRATarget]
    public var scale: Float { alpha / Float(rank) }

    /// `alpha` defaults to twice the rank (scale 2, the usual TRL recipe); targets to all seven projections.
    public init(rank: Int, alpha: Float? = nil, targets: [LoRATarget] = LoRATarget.allCases) throws {
        guard rank >= 1 else { throw ModelError("LoRA rank must be at least 1 (got \(rank))") }
        guard !targets.isEmpty else { throw ModelError("LoRA needs at least one target projection (q, k, v, o, gate, up, down)") }
        let a = alpha ?? Float(2 * rank)
        guard a.isFinite, a > 0 else { throw ModelError("LoRA alpha must be a positive number (got \(a))") }
        self.rank = rank
        self.alpha = a
        self.targets = LoRATarget.allCases.filter(targets.contains)
    }

    /// Parses `q,k,v,...` (or the `_proj` names); an unknown name is an error listing the known ones.
    public static func targets(_ list: String) throws -> [LoRATarget] {
        try targets(list.split(separator: ",").map(String.init))
    }

    /// The targets named (`q` or `q_proj`, surrounding spaces ignored).
    public static func targets(_ names: [String]) throws -> [LoRATarget] {
        try names.map { s in
            let name = s.trimmingCharacters(in: .whitespaces)
            guard let t = LoRATarget(name: name) else {
                throw ModelError("unknown LoRA target '\(name)' (expected some of \(LoRATarget.allCases.map(\.shortName).joined(separator: ", ")))")
            }
            return t
        }
    }
}

/// Where each adapter lives in one flat buffer. Per layer and per fused product of the forward (q|k|v,
/// o, gate|up, down) a group: the members' A matrices adjacent (so x A^T is one product for the group),
/// then their B matrices. Tensor names are PEFT's.
public struct LoRALayout: Sendable {
    /// The fused products of a layer, in the order the forward computes them.
    public enum Site: Int, CaseIterable, Sendable { case qkv, o, gateUp, down }
    public struct Member: Sendable {
        public let target: LoRATarget
        /// First column of the member's output in the fused product, its width, and its B's offset.
        public let column: Int, outDim: Int, b: Int
    }
    public struct Group: Sendable {
        public let inDim: Int
        /// Row stride of the fused product's output.
        public let outStride: Int
        public let members: [Member]
        /// Offset of the stacked A ([members x rank, inDim]) and, in the saved activations, of x A^T's columns.
        public let a: Int, savedColumn: Int
        public var width: Int
    }
    public let config: LoRAConfig
    /// groups[layer][site.rawValue], nil where no target of that product is adapted.
    public let groups: [[Group?]]
    public let tensors: [TensorSpec]
    public let count: Int
    /// Columns of x A^T saved per row and layer (the sum of the groups' widths).
    public let savedWidth: Int

    public init(model c: LlamaConfig, lora: LoRAConfig) {
        let r = lora.rank, F = c.intermediateSize, C = c.hiddenSize
        func place(_ t: LoRATarget) -> (site: Site, column: Int, outDim: Int, inDim: Int) {
            switch t {
            case .q: return (.qkv, 0, c.qDim, C)
            case .k: return (.qkv, c.qDim, c.kvDim, C)
            case .v: return (.qkv, c.qDim + c.kvDim, c.kvDim, C)
            case .o: return (.o, 0, C, c.qDim)
            case .gate: return (.gateUp, 0, F, C)
            case .up: return (.gateUp, F, F, C)
            case .down: return (.down, 0, C, F)
            }
        }
        let strides: [Site: Int] = [.qkv: c.qkvDim, .o: C, .gateUp: 2 * F, .down: C]
        var specs: [TensorSpec] = [], offset = 0, groups: [[Group?]] = [], width = 0
        for l in 0..<c.numLayers {
            var row: [Group?] = []
            var column = 0
            for site in Site.allCases {
                let targets = lora.targets.filter { place($0).site == site }
                guard let first = targets.first else { row.append(nil); continue }
                let inDim = place(first).inDim, a = offset
                for t in targets {
                    specs.append(TensorSpec(name: "base_model.model.model.layers.\(l).\(t.module).lora_A.weight", shape: [r, inDim], offset: offset))
                    offset += r * inDim
                }
                var members: [Member] = []
                for t in targets {
                    let p = place(t)
                    specs.append(TensorSpec(name: "base_model.model.model.layers.\(l).\(t.module).lora_B.weight", shape: [p.outDim, r], offset: offset))
                    members.append(Member(target: t, column: p.column, outDim: p.outDim, b: offset))
                    offset += p.outDim * r
                }
                row.append(Group(inDim: inDim, outStride: strides[site]!, members: members, a: a, savedColumn: column, width: targets.count * r))
                column += targets.count * r
            }
            width = column
            groups.append(row)
        }
        config = lora
        self.groups = groups
        tensors = specs
        count = offset
        savedWidth = width
    }

    /// AdamW spans: every adapter matrix decays (as PEFT's parameters do under transformers' Trainer).
    public var optimizerSpans: [AdamW.Span] { tensors.map { AdamW.Span(offset: $0.offset, count: $0.count, decay: true) } }
}

/// A model's adapters: their values, whether the forward applies them, and what the forward saves of them
/// for the backward. Attached to a `LlamaModel`, they are its trainable parameters and the base is frozen.
public final class LoRAAdapters: @unchecked Sendable {
    public let layout: LoRALayout
    public let params: FloatBuffer
    /// Off: the forward is the base model's (the "initial" reference of a LoRA run).
    public var enabled = true
    /// The base model's path, written into the adapter directory (nil: the base has no file and is saved inside it).
    public var base: String?
    let saved = Scratch(), scratch = Scratch()
    var rows = 0

    public var config: LoRAConfig { layout.config }

    /// A zeros for B and PEFT's initialisation for A (uniform in +-1/sqrt(in), kaiming_uniform with a = sqrt(5)),
    /// drawn from a stream of `seed`: the base's function exactly, with gradients flowing into B.
    public init(model: LlamaConfig, config: LoRAConfig, seed: UInt64) {
        layout = LoRALayout(model: model, lora: config)
        params = FloatBuffer(count: layout.count)
        var rng = RandomStream(key: seed, 0x4C6F5241)
        for spec in layout.tensors where spec.name.hasSuffix("lora_A.weight") {
            let bound = 1 / Double(spec.shape[1]).squareRoot()
            let p = params.pointer + spec.offset
            for i in 0..<spec.count { p[i] = Float((2 * rng.uniform() - 1) * bound) }
        }
    }

    /// Zero adapters of `layout`, for values read in afterwards (from a file, from another rank).
    public init(layout: LoRALayout) {
        self.layout = layout
        params = FloatBuffer(count: layout.count)
    }

    /// Makes room for the activations of a forward over `rows` rows.
    func prepare(rows: Int, layers: Int) {
        self.rows = rows
        saved.ensure(rows * layers * layout.savedWidth)
    }

    func savedPointer(layer l: Int, _ g: LoRALayout.Group) -> UnsafeMutablePointer<Float> {
        saved.pointer + rows * (l * layout.savedWidth + g.savedColumn)
    }

    /// out[:, member columns] += scale * (x A^T) B^T for the group of `site` in layer `l`; saves x A^T.
    func forward(layer l: Int, site: LoRALayout.Site, x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        guard enabled, let g = layout.groups[l][site.rawValue] else { return }
        let r = layout.config.rank, s = layout.config.scale, P = params.pointer
        let u = savedPointer(layer: l, g)
        Gemm.sgemm(transB: true, M: rows, N: g.width, K: g.inDim, A: x, lda: g.inDim, B: P + g.a, ldb: g.inDim, C: u, ldc: g.width)
        for (j, m) in g.members.enumerated() {
            Gemm.sgemm(transB: true, M: rows, N: m.outDim, K: r, alpha: s, A: u + j * r, lda: g.width, B: P + m.b, ldb: r,
                       beta: 1, C: out + m.column, ldc: g.outStride)
        }
    }

    /// With dout the gradient of the fused product's output: dB += scale dout^T (x A^T), dA += scale (dout B)^T x
    /// into `grads` (laid out like `params`), and dx += scale (dout B) A.
    func backward(layer l: Int, site: LoRALayout.Site, x: UnsafePointer<Float>, dout: UnsafePointer<Float>,
                  dx: UnsafeMutablePointer<Float>, grads: UnsafeMutablePointer<Float>) {
        guard enabled, let g = layout.groups[l][site.rawValue] else { return }
        let r = layout.config.rank, s = layout.config.scale, P = params.pointer
        let u = savedPointer(layer: l, g), G = scratch.ensure(rows * g.width)
        for (j, m) in g.members.enumerated() {
            Gemm.sgemm(M: rows, N: r, K: m.outDim, A: dout + m.column, lda: g.outStride, B: P + m.b, ldb: r, C: G + j * r, ldc: g.width)
            Gemm.sgemm(transA: true, M: m.outDim, N: r, K: rows, alpha: s, A: dout + m.column, lda: g.outStride, B: u + j * r, ldb: g.width,
                       beta: 1, C: grads + m.b, ldc: r)
        }
        Gemm.sgemm(transA: true, M: g.width, N: g.inDim, K: rows, alpha: s, A: G, lda: g.width, B: x, ldb: g.inDim, beta: 1, C: grads + g.a, ldc: g.inDim)
        Gemm.sgemm(M: rows, N: g.inDim, K: g.width, alpha: s, A: G, lda: g.width, B: P + g.a, ldb: g.inDim, beta: 1, C: dx, ldc: g.inDim)
    }

    /// w[member rows, :] += scale B A for the group of `site` in layer `l`: `w` is that fused product's weight
    /// ([outStride, inDim], a copy), which then computes base + adapters in one product.
    public func merge(layer l: Int, site: LoRALayout.Site, into w: UnsafeMutablePointer<Float>) {
        guard let g = layout.groups[l][site.rawValue] else { return }
        let r = layout.config.rank, s = layout.config.scale, P = params.pointer
        for (j, m) in g.members.enumerated() {
            Gemm.sgemm(M: m.outDim, N: g.inDim, K: r, alpha: s, A: P + m.b, lda: r, B: P + g.a + j * r * g.inDim, ldb: g.inDim,
                       beta: 1, C: w + m.column * g.inDim, ldc: g.inDim)
        }
    }
}
