import Foundation
import Generation
import Kernels
import Model
import Pipeline

/// The peak resident memory of this process in bytes (VmHWM), 0 where /proc is absent.
func peakRSS() -> Int { ResidentMemory.peakBytes() ?? 0 }

/// `quantized PATH PRECISION`: what llama.cpp's anchor (../shared/anchors/bench_llamacpp.py) times, on the
/// same GGUF file, with the model held as `PRECISION` (quantized or float32): greedy decoding of 128 tokens
/// at batch 1 (and batch 8) with end-of-sequence ignored, and one 512-token prefill; peak RSS after loading
/// and at the end (run each precision in its own process for its own peak).
func benchQuantized(path: String, precision: Precision) {
    let loaded = try! Checkpoint.load(path: path, precision: precision)
    let model = loaded.model
    let rssLoaded = peakRSS()
    var rng = RandomStream(seed: 5)
    func prompt(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(1000 + rng.int(below: 19000)) } }
    var params = SamplingParameters()
    params.temperature = 0; params.maxNewTokens = 128; params.ignoreEOS = true
    var fields: [String: Any] = ["model": modelLabel(path), "precision": precision.rawValue,
                                 "avx512": adqUsesAVX512(), "weights_bytes": model.quantized?.byteCount ?? 4 * model.parameterCount]
    // AUTODIDACT_BENCH_BATCHES=1 (a comma list) narrows the batches, for profiling one of them.
    let batches = ProcessInfo.processInfo.environment["AUTODIDACT_BENCH_BATCHES"].map { $0.split(separator: ",").compactMap { Int($0) } } ?? [1, 8]
    for batch in batches {
        let requests = (0..<batch).map { GenerationRequest(promptIndex: $0, sampleIndex: 0, prompt: prompt(13)) }
        let generator = Generator(model: model, tokenizer: nil, batchSize: batch)
        let t = time(warmup: 1, iterations: 3) { _ = try! generator.generate(requests, params: params) }
        fields["decode_b\(batch)_tok_s"] = Double(batch * 128) / t.median
    }
    // Prefill: one forward over 512 rows of one slot (the logits of the last row only).
    let ids = prompt(512)
    let cache = KVCache(config: model.config, slots: 1, capacity: 512)
    let forward = BatchForward(model: model, cache: cache)
    let t = time(warmup: 1, iterations: 3) {
        _ = forward.run(tokens: ids, slots: [Int32](repeating: 0, count: 512), positions: (0..<512).map(Int32.init), logitRows: [511])
    }
    fields["prefill_512_tok_s"] = 512 / t.median
    fields["peak_rss_after_load_bytes"] = rssLoaded
    fields["peak_rss_bytes"] = peakRSS()
    fields["file_bytes"] = (try? FileManager.default.attributesOfItem(atPath: URL(fileURLWithPath: path).resolvingSymlinksInPath().path)[.size] as? Int) ?? 0
    fields["tag"] = "quantized_\(modelLabel(path))_\(precision.rawValue)_t\(Parallel.threads)"
    emit("quantized", fields)
}

/// `quantized-fidelity PATH`: next-token distributions of the quantized path against the float32 path on
/// the same file, over 384 positions of a fixed text: mean and max |log p| difference of the actual next
/// token and mean KL(float32 || quantized).
func benchQuantizedFidelity(path: String) {
    let text = "The history of the lighthouse begins with fires lit on hills to guide ships. Later, towers were built, " +
        "and lamps burning oil replaced the open flames. In the nineteenth century the Fresnel lens concentrated the " +
        "light into beams visible for many miles. Keepers lived beside the towers, trimming wicks and winding the " +
        "clockwork that turned the lens. Today most lights are automatic, powered by electricity, and monitored from afar. "
    let f32 = try! Checkpoint.load(path: path, precision: .float32)
    let q = try! Checkpoint.load(path: path, precision: .quantized).model
    let tok = f32.tokenizer!
    var ids = tok.encode(String(repeating: text, count: 6))
    ids = Array(ids.prefix(385))
    let d = QuantizedFidelity.compare(f32.model, q, ids: ids)
    emit("quantized_fidelity", ["tag": "quantized_fidelity_\(modelLabel(path))", "model": modelLabel(path), "positions": ids.count - 1,
                                "mean_abs_logprob_diff": d.meanAbs, "max_abs_logprob_diff": d.maxAbs, "mean_kl": d.meanKL,
                                "argmax_agreement": d.argmaxAgreement])
}

func adqUsesAVX512() -> Bool { QuantizedMatrix.usesAVX512 }
