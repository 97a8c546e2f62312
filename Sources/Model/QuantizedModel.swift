import Foundation
import Kernels

/// How a model's matrices are held: `float32` (trainable; GGUF blocks expanded) or `quantized` (a GGUF
/// file's blocks as they are, for a frozen model's generation and scoring).
public enum Precision: String, Codable, Sendable, CaseIterable {
    case quantized, float32
}

/// A frozen model's matrices kept in their GGUF blocks, fused as the inference forward uses them (q, k and v
/// stacked; gate and up stacked), rows in Hugging Face order.
public final class QuantizedTensors: @unchecked Sendable {
    public struct Layer: Sendable { public let qkv, o, gateUp, down: QuantizedMatrix }
    public let layers: [Layer]
    public let embed: QuantizedMatrix
    /// The embedding's matrix when the model ties them.
    public let lmHead: QuantizedMatrix
    /// Bytes of blocks held.
    public var byteCount: Int {
        layers.reduce(0) { $0 + $1.qkv.byteCount + $1.o.byteCount + $1.gateUp.byteCount + $1.down.byteCount }
            + embed.byteCount + (lmHead === embed ? 0 : lmHead.byteCount)
    }

    /// Whether every matrix of `file` can stay in its blocks (a supported type, rows a multiple of 32 long).
    static func canHold(_ file: GGUFFile, layout: ParameterLayout) -> Bool {
        layout.tensors.filter { $0.shape.count == 2 }.allSatisfy { spec in
            guard let t = file.tensors[Checkpoint.ggufTensorName(spec.name)] else { return false }
            return QuantizedMatrix.supports(type: Int32(t.type.rawValue), inDim: spec.shape[1])
        }
    }

    init(file: GGUFFile, config c: LlamaConfig) throws {
        // The blocks are read with pread, not through the file's mapping, so the file's pages do not stay
        // resident beside the held copy.
        let fd = open(file.path, O_RDONLY)
        guard fd >= 0 else { throw ModelError("\(file.path): cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        func matrix(_ names: [String]) throws -> QuantizedMatrix {
            let tensors = try names.map { hf -> GGUFFile.Tensor in
                let name = Checkpoint.ggufTensorName(hf)
                guard let t = file.tensors[name] else { throw ModelError.format(file.path, "missing tensor '\(name)' (for \(hf))") }
                return t
            }
            let inDim = tensors[0].dims[0]
            let m = QuantizedMatrix(inDim: inDim, parts: tensors.map { (Int32($0.type.rawValue), $0.dims.count == 2 ? $0.dims[1] : 1) })
            for (i, t) in tensors.enumerated() {
                let rows = m.segments[i].rows, rowBytes = t.byteCount / rows
                // llama.cpp permutes the Q/K rows of the llama architecture; whole rows move back.
                let heads: Int? = c.family != .llama ? nil : t.name.hasSuffix("attn_q.weight") ? c.numHeads
                    : t.name.hasSuffix("attn_k.weight") ? c.numKVHeads : nil
                let chunk = max(1, (4 << 20) / rowBytes)
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk * rowBytes, alignment: 64)
                defer { buffer.deallocate() }
                var r0 = 0
                while r0 < rows {
                    let n = min(chunk, rows - r0), want = n * rowBytes
                    let got = pread(fd, buffer, want, off_t(file.dataStart + t.offset + r0 * rowBytes))
                    guard got == want else { throw ModelError.format(file.path, "tensor '\(t.name)': short read at row \(r0)") }
                    for r in 0..<n {
                        m.store(segment: i, row: QuantizedTensors.huggingFaceRow(r0 + r, rows: rows, heads: heads), gguf: buffer + r * rowBytes)
                    }
                    r0 += n
                }
            }
            try QuantizedTensors.checkFinite(m, name: tensors[0].name, file: file.path)
            return m
        }
        layers = try (0..<c.numLayers).map { l in
            let p = "model.layers.\(l)."
            return Layer(qkv: try matrix(["q_proj", "k_proj", "v_proj"].map { p + "self_attn.\($0).weight" }),
                         o: try matrix([p + "self_attn.o_proj.weight"]),
                         gateUp: try matrix([p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"]),
                         down: try matrix([p + "mlp.down_proj.weight"]))
        }
        embed = try matrix(["model.embed_tokens.weight"])
        lmHead = c.tieWordEmbeddings ? embed : try matrix(["lm_head.weight"])
    }

    /// Where GGUF row `r` of a matrix of `rows` rows goes in Hugging Face order: the same row, or for llama's
    /// Q/K (`heads` given) the inverse of llama.cpp's permutation (GGUF row h*d + 2i + j is Hugging Face row
    /// h*d + j*d/2 + i).
    static func huggingFaceRow(_ r: Int, rows: Int, heads: Int?) -> Int {
        guard let heads else { return r }
        let d = rows / heads, h = r / d, within = r % d
        return h * d + (within % 2) * (d / 2) + within / 2
    }

    /// Every value of `m` dequantised once: non-finite scales (a corrupt file) are refused here, by name.
    static func checkFinite(_ m: QuantizedMatrix, name: String, file: String) throws {
        let chunk = 64, chunks = (m.outDim + chunk - 1) / chunk
        var bad = [Int](repeating: -1, count: chunks)
        bad.withUnsafeMutableBufferPointer { flags in
            Parallel.tasks(chunks) { t in
                let row = UnsafeMutablePointer<Float>.allocate(capacity: m.inDim)
                defer { row.deallocate() }
                for r in (t * chunk)..<min(m.outDim, (t + 1) * chunk) {
                    m.row(r, into: row)
                    for i in 0..<m.inDim where !row[i].isFinite { flags[t] = r * m.inDim + i; return }
                }
            }
        }
        if let i = bad.first(where: { $0 >= 0 }) {
            throw ModelError.format(file, "tensor '\(name)' holds a non-finite value at element \(i) (corrupt data?)")
        }
    }
}
