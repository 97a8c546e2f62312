import Kernels

/// Activations of one forward pass kept for its backward, and the backward's own scratch.
///
/// Buffers only grow (`Scratch.ensure`), so a training loop with steady batch shapes allocates during
/// its first step and never again. Per layer l (N tokens, C hidden, F ffn):
/// resid[l] [N,C] (layer input; resid[L] is the final stream), rstd1/rstd2 [N], xn1/xn2 [N,C] (normed),
/// qkv [N, qDim+2kvDim] (after RoPE), probs [heads * sum T^2], att [N, qDim], mid [N,C] (after attention),
/// gu [N, 2F] (gate|up), h [N,F]; then the final norm's xnF, rstdF, the logits [N,V] and per-row lse/logprob.
public final class Workspace: @unchecked Sendable {
    public let config: LlamaConfig
    public private(set) var tokens = 0
    public private(set) var packing = Packing()
    /// Whether the last forward kept every layer's activations (for a backward) or only the current
    /// layer's (scoring: a layer's buffers are reused by the next, and the residual stream alternates
    /// between two slots), which holds 1/L of the memory and computes the same bits.
    public private(set) var keepsActivations = true

    let resid = Scratch(), rstd1 = Scratch(), rstd2 = Scratch(), xn1 = Scratch(), xn2 = Scratch()
    let qkv = Scratch(), probs = Scratch(), att = Scratch(), mid = Scratch(), gu = Scratch(), h = Scratch()
    let xnF = Scratch(), rstdF = Scratch(), logits = Scratch(), lse = Scratch()
    /// Qwen3: q|k|v before the per-head norms, and the norms' scales.
    let qkRaw = Scratch(), qkRstd = Scratch()
    public let logprob = Scratch()
    // backward scratch
    let dX = Scratch(), dXn = Scratch(), dqkv = Scratch(), datt = Scratch(), dgu = Scratch(), dh = Scratch()
    let attnScratch = Scratch()
    var ids: [Int32] = []
    var targets: [Int32] = []

    public init(config: LlamaConfig) { self.config = config }

    var attentionShape: Attention.Shape {
        Attention.Shape(heads: config.numHeads, kvHeads: config.numKVHeads, headDim: config.headDim,
                        qStride: config.qkvDim, kvStride: config.qkvDim, outStride: config.qDim)
    }

    /// Sizes every buffer for `packing` (growing only), for all layers or (`keep` false) for one.
    func prepare(packing: Packing, keep: Bool = true) {
        self.packing = packing
        keepsActivations = keep
        let c = config, N = packing.tokens, L = keep ? c.numLayers : 1
        tokens = N
        resid.ensure((L + 1) * N * c.hiddenSize)
        rstd1.ensure(L * N); rstd2.ensure(L * N)
        xn1.ensure(L * N * c.hiddenSize); xn2.ensure(L * N * c.hiddenSize)
        qkv.ensure(L * N * c.qkvDim)
        if c.qkNorm { qkRaw.ensure(L * N * c.qkvDim); qkRstd.ensure(L * N * (c.numHeads + c.numKVHeads)) }
        probs.ensure(L * c.numHeads * packing.squares)
        att.ensure(L * N * c.qDim); mid.ensure(L * N * c.hiddenSize)
        gu.ensure(L * N * 2 * c.intermediateSize); h.ensure(L * N * c.intermediateSize)
        xnF.ensure(N * c.hiddenSize); rstdF.ensure(N)
        logits.ensure(N * c.vocabSize); lse.ensure(N); logprob.ensure(N)
    }

    /// The slot of layer l's activations, and of the residual stream entering layer l (l = L: the final one).
    @inline(__always) func slot(_ l: Int) -> Int { keepsActivations ? l : 0 }
    @inline(__always) func residSlot(_ l: Int) -> Int { keepsActivations ? l : l % 2 }

    func prepareBackward() {
        precondition(keepsActivations, "backward after a scoring-only forward (keepActivations: false)")
        let c = config, N = tokens
        dX.ensure(N * c.hiddenSize); dXn.ensure(N * c.hiddenSize)
        dqkv.ensure(N * c.qkvDim); datt.ensure(N * c.qDim)
        dgu.ensure(N * 2 * c.intermediateSize); dh.ensure(N * c.intermediateSize)
        attnScratch.ensure(c.numKVHeads * packing.squares)
    }

    /// log p(target[r] | tokens up to r) for each row of the last forward (0 where the target was masked).
    public func rowLogProbs() -> [Float] { Array(UnsafeBufferPointer(start: logprob.pointer, count: tokens)) }

    /// The logits of row r of the last forward.
    public func logitsRow(_ r: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: logits.pointer + r * config.vocabSize, count: config.vocabSize)
    }
}
