import Kernels

/// The training forward and backward over a packed batch: each kernel call in forward order, then the
/// same list in reverse. Gradients accumulate (+=) into a buffer laid out like the parameters.
extension LlamaModel {
    /// Runs the model over `ids` (packed as `packing` says) and scores `targets`: afterwards
    /// `workspace.logprob[r]` = log p(targets[r] | ids of the segment up to r), 0 where targets[r] < 0.
    /// Returns the sum of the scored log-probs.
    @discardableResult
    /// `keepActivations: false` (scoring) keeps one layer's activations at a time: no backward may follow.
    public func forward(ids: [Int32], targets: [Int32], packing: Packing, workspace ws: Workspace, keepActivations: Bool = true) -> Double {
        precondition(ids.count == packing.tokens && targets.count == packing.tokens, "forward: ids/targets/packing disagree")
        ws.prepare(packing: packing, keep: keepActivations)
        ws.ids.removeAll(keepingCapacity: true); ws.ids.append(contentsOf: ids)
        ws.targets.removeAll(keepingCapacity: true); ws.targets.append(contentsOf: targets)
        let c = config, N = packing.tokens, C = c.hiddenSize, F = c.intermediateSize
        let shape = ws.attentionShape
        let P = params.pointer
        let lora = adapters
        lora?.prepare(rows: N, layers: c.numLayers)
        ids.withUnsafeBufferPointer { idp in
            Embedding.forward(out: ws.resid.pointer, ids: idp.baseAddress!, table: P + layout.embed, rows: N, dim: C)
        }
        packing.positions.withUnsafeBufferPointer { posBuf in
            let pos = posBuf.baseAddress!
            for l in 0..<c.numLayers {
                let w = layout.layer(l, in: params), s = ws.slot(l)
                let x = ws.resid.pointer + ws.residSlot(l) * N * C, xNext = ws.resid.pointer + ws.residSlot(l + 1) * N * C
                let xn1 = ws.xn1.pointer + s * N * C, xn2 = ws.xn2.pointer + s * N * C
                let qkv = ws.qkv.pointer + s * N * c.qkvDim, att = ws.att.pointer + s * N * c.qDim
                let mid = ws.mid.pointer + s * N * C
                let gu = ws.gu.pointer + s * N * 2 * F, h = ws.h.pointer + s * N * F
                RMSNorm.forward(out: xn1, rstd: ws.rstd1.pointer + s * N, x: x, w: w.attnNorm, rows: N, dim: C, eps: c.rmsNormEps)
                Gemm.linear(qkv, xn1, w.qkv, rows: N, inDim: C, outDim: c.qkvDim)
                lora?.forward(layer: l, site: .qkv, x: xn1, out: qkv)
                finishQKV(qkv, layer: w, rows: N, positions: pos, raw: c.qkNorm ? ws.qkRaw.pointer + s * N * c.qkvDim : nil,
                          rstd: c.qkNorm ? ws.qkRstd.pointer + s * N * (c.numHeads + c.numKVHeads) : nil)
                Attention.forward(out: att, probs: ws.probs.pointer + s * c.numHeads * packing.squares,
                                  q: qkv, k: qkv + c.qDim, v: qkv + c.qDim + c.kvDim, shape: shape, packing: packing)
                mid.update(from: x, count: N * C)
                Gemm.linear(mid, att, w.o, rows: N, inDim: c.qDim, outDim: C, accumulate: true)
                lora?.forward(layer: l, site: .o, x: att, out: mid)
                RMSNorm.forward(out: xn2, rstd: ws.rstd2.pointer + s * N, x: mid, w: w.mlpNorm, rows: N, dim: C, eps: c.rmsNormEps)
                Gemm.linear(gu, xn2, w.gateUp, rows: N, inDim: C, outDim: 2 * F)
                lora?.forward(layer: l, site: .gateUp, x: xn2, out: gu)
                SwiGLU.forward(h: h, gu: gu, rows: N, dim: F)
                xNext.update(from: mid, count: N * C)
                Gemm.linear(xNext, h, w.down, rows: N, inDim: F, outDim: C, accumulate: true)
                lora?.forward(layer: l, site: .down, x: h, out: xNext)
            }
        }
        let xL = ws.resid.pointer + ws.residSlot(c.numLayers) * N * C
        RMSNorm.forward(out: ws.xnF.pointer, rstd: ws.rstdF.pointer, x: xL, w: P + layout.finalNorm, rows: N, dim: C, eps: c.rmsNormEps)
        Gemm.linear(ws.logits.pointer, ws.xnF.pointer, P + layout.lmHead, rows: N, inDim: C, outDim: c.vocabSize)
        targets.withUnsafeBufferPointer { t in
            CrossEntropy.forward(logprob: ws.logprob.pointer, lse: ws.lse.pointer, logits: ws.logits.pointer,
                                 targets: t.baseAddress!, rows: N, vocab: c.vocabSize)
        }
        var total = 0.0
        for r in 0..<N { total += Double(ws.logprob.pointer[r]) }
        return total
    }

    /// Backpropagates d(loss)/d(logprob[r]) = `dlogprob[r]` through the last `forward`, adding the
    /// parameter gradients into `grads`. Consumes the workspace's logits and attention probabilities.
    ///
    /// With adapters attached the base is frozen: `grads` is laid out like the adapters, and the base's
    /// weight gradients (matrices, norms, biases, embedding) are never computed, only the input gradients.
    public func backward(dlogprob: UnsafePointer<Float>, grads: FloatBuffer, workspace ws: Workspace) {
        let lora = adapters
        precondition(grads.count == (lora?.layout.count ?? layout.count), "backward: gradient buffer does not match the trainable parameters")
        ws.prepareBackward()
        let c = config, N = ws.tokens, C = c.hiddenSize, F = c.intermediateSize
        let packing = ws.packing, shape = ws.attentionShape
        let P = params.pointer
        let G: UnsafeMutablePointer<Float>? = lora == nil ? grads.pointer : nil
        let dX = ws.dX.pointer, dXn = ws.dXn.pointer
        ws.targets.withUnsafeBufferPointer { t in
            CrossEntropy.backward(logits: ws.logits.pointer, lse: ws.lse.pointer, targets: t.baseAddress!,
                                  dlogprob: dlogprob, rows: N, vocab: c.vocabSize)
        }
        Gemm.linearBackward(dx: dXn, dw: G.map { $0 + layout.lmHead }, dout: ws.logits.pointer, x: ws.xnF.pointer,
                            w: P + layout.lmHead, rows: N, inDim: C, outDim: c.vocabSize, accumulateDx: false)
        dX.update(repeating: 0, count: N * C)
        RMSNorm.backward(dx: dX, dw: G.map { $0 + layout.finalNorm }, dout: dXn, x: ws.resid.pointer + c.numLayers * N * C,
                         w: P + layout.finalNorm, rstd: ws.rstdF.pointer, rows: N, dim: C)
        packing.positions.withUnsafeBufferPointer { posBuf in
            let pos = posBuf.baseAddress!
            for l in stride(from: c.numLayers - 1, through: 0, by: -1) {
                let w = layout.layer(l, in: params), g = G.map { LayerView(layout.layers[l], $0) }
                let x = ws.resid.pointer + l * N * C
                let xn1 = ws.xn1.pointer + l * N * C, xn2 = ws.xn2.pointer + l * N * C
                let qkv = ws.qkv.pointer + l * N * c.qkvDim, att = ws.att.pointer + l * N * c.qDim
                let mid = ws.mid.pointer + l * N * C
                let gu = ws.gu.pointer + l * N * 2 * F, h = ws.h.pointer + l * N * F
                // x_next = mid + h Wd^T
                Gemm.linearBackward(dx: ws.dh.pointer, dw: g?.down, dout: dX, x: h, w: w.down, rows: N, inDim: F, outDim: C, accumulateDx: false)
                lora?.backward(layer: l, site: .down, x: h, dout: dX, dx: ws.dh.pointer, grads: grads.pointer)
                SwiGLU.backward(dgu: ws.dgu.pointer, dh: ws.dh.pointer, gu: gu, rows: N, dim: F)
                Gemm.linearBackward(dx: dXn, dw: g?.gateUp, dout: ws.dgu.pointer, x: xn2, w: w.gateUp, rows: N, inDim: C, outDim: 2 * F, accumulateDx: false)
                lora?.backward(layer: l, site: .gateUp, x: xn2, dout: ws.dgu.pointer, dx: dXn, grads: grads.pointer)
                RMSNorm.backward(dx: dX, dw: g?.mlpNorm, dout: dXn, x: mid, w: w.mlpNorm, rstd: ws.rstd2.pointer + l * N, rows: N, dim: C)
                // mid = x + att Wo^T
                Gemm.linearBackward(dx: ws.datt.pointer, dw: g?.o, dout: dX, x: att, w: w.o, rows: N, inDim: c.qDim, outDim: C, accumulateDx: false)
                lora?.backward(layer: l, site: .o, x: att, dout: dX, dx: ws.datt.pointer, grads: grads.pointer)
                let dqkv = ws.dqkv.pointer
                Attention.backward(dq: dqkv, dk: dqkv + c.qDim, dv: dqkv + c.qDim + c.kvDim, dout: ws.datt.pointer,
                                   probs: ws.probs.pointer + l * c.numHeads * packing.squares, scratch: ws.attnScratch.pointer,
                                   q: qkv, k: qkv + c.qDim, v: qkv + c.qDim + c.kvDim, shape: shape, packing: packing)
                finishQKVBackward(dqkv, layer: w, grads: g, rows: N, positions: pos,
                                  raw: c.qkNorm ? ws.qkRaw.pointer + l * N * c.qkvDim : nil,
                                  rstd: c.qkNorm ? ws.qkRstd.pointer + l * N * (c.numHeads + c.numKVHeads) : nil)
                Gemm.linearBackward(dx: dXn, dw: g?.qkv, dout: dqkv, x: xn1, w: w.qkv, rows: N, inDim: C, outDim: c.qkvDim, accumulateDx: false)
                lora?.backward(layer: l, site: .qkv, x: xn1, dout: dqkv, dx: dXn, grads: grads.pointer)
                RMSNorm.backward(dx: dX, dw: g?.attnNorm, dout: dXn, x: x, w: w.attnNorm, rstd: ws.rstd1.pointer + l * N, rows: N, dim: C)
            }
        }
        if let G {
            ws.ids.withUnsafeBufferPointer { idp in
                Embedding.backward(dtable: G + layout.embed, dout: dX, ids: idp.baseAddress!, rows: N, dim: C)
            }
        }
    }
}
