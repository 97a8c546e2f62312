import Alignment
import CMPI
import Distributed
import Generation
import Foundation
import Kernels
import Model
import Pipeline

/// `dpo-model PATH PAIRS PROMPT COMPLETION MODE`: DPO steps (sigmoid, beta 0.1, AdamW, reference log-probs
/// stored with the pairs) on the model at PATH in float32, MODE full (every weight, replicated moments),
/// zero (every weight, ZeRO-1: run it under mpirun) or loraR (LoRA of rank R on all seven projections, base
/// frozen). Run under mpirun, each rank takes its share of the pairs. Emits the median step, the update
/// alone (clipping, AdamW, collectives), and every rank's peak resident memory after loading and during the
/// steps (the peak restarted after loading).
func benchDPOModel(path: String, pairs count: Int, promptLength: Int, completionLength: Int, mode: String, iterations: Int) throws {
    let comm = try Communicators.make()
    let model = try Checkpoint.load(path: path).model
    let afterLoad = peakRSS()
    // The steps' own peak from here: the load's (the file's pages beside the weights) is not the training's.
    ResidentMemory.resetPeak()
    var scope = TrainingScope.full
    if mode == "zero" { scope.zero = 1 } else if mode.hasPrefix("lora"), let r = Int(mode.dropFirst(4)) { scope.lora = try LoRAConfig(rank: r) }
    var rng = RandomStream(seed: 7)
    func ids(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.int(below: model.config.vocabSize)) } }
    let pairs = (0..<count).map { _ in
        TokenizedPair(prompt: ids(promptLength), chosen: ids(completionLength), rejected: ids(completionLength), refChosen: -500, refRejected: -500)
    }
    let trainer = try PreferenceTrainer(model: model, loss: DPOLoss(beta: 0.1), adamW: AdamWSettings(learningRate: 1e-6),
                                        maxGradNorm: 1, microBatchTokens: 1 << 20, comm: comm, scope: scope)
    var times: [Double] = []
    for k in 0..<(iterations + 1) {
        try comm.barrier()
        let t0 = DispatchTime.now().uptimeNanoseconds
        _ = try trainer.step(pairs, lr: 1e-6)
        if k > 0 { times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9) }
    }
    // The step's update alone (collectives, clipping, AdamW) on the gradients the last step left.
    var update: [Double] = []
    for _ in 0..<3 {
        var sums = [0.0]
        try comm.barrier()
        let t0 = DispatchTime.now().uptimeNanoseconds
        _ = try trainer.trainer.synchronizedUpdate(comm: comm, sums: &sums, lr: 0)
        update.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    // Every rank's two figures, in rank order (each rank fills its own pair; the sum assembles them).
    var rss = [Double](repeating: 0, count: 2 * comm.size)
    rss[2 * comm.rank] = Double(afterLoad); rss[2 * comm.rank + 1] = Double(peakRSS())
    try comm.allReduce(&rss, op: .sum)
    if comm.rank == 0 {
        emit("dpo_model", ["tag": "dpo_\(modelLabel(path))_\(mode)_p\(count)_\(promptLength)_\(completionLength)_np\(comm.size)_t\(Parallel.threads)",
                           "mode": mode, "ranks": comm.size, "pairs": count, "prompt_len": promptLength, "completion_len": completionLength,
                           "parameters": model.parameterCount, "trainable": model.trainable.count,
                           "median_s": median(times), "times_s": times, "update_median_s": median(update),
                           "peak_rss_mb_after_load": (0..<comm.size).map { rss[2 * $0] / 1048576 },
                           "peak_rss_mb": (0..<comm.size).map { rss[2 * $0 + 1] / 1048576 }])
    }
}

/// `collectives`: all-reduce, reduce-scatter and all-gather (in place, the communicator's) of 1, 16 and 128
/// MB buffers under mpirun, medians of `iterations` after 3 warm-ups: the inputs of docs/scaling.md.
func benchCollectives(iterations: Int) throws {
    let comm = try Communicators.make()
    var res: [String: [String: Double]] = [:]
    for mb in [1, 16, 128] {
        let n = mb * 1024 * 1024 / 4
        let x = FloatBuffer(count: n)
        let bounds = Trainer.shardBounds(count: n, ranks: comm.size)
        var t: [String: [Double]] = ["all_reduce": [], "reduce_scatter": [], "all_gather": []]
        for i in 0..<(iterations + 3) {
            for op in ["all_reduce", "reduce_scatter", "all_gather"] {
                x.pointer.update(repeating: Float(comm.rank + 1), count: n)
                try comm.barrier()
                let t0 = DispatchTime.now().uptimeNanoseconds
                switch op {
                case "all_reduce": try comm.allReduce(x.pointer, count: n, op: .sum)
                case "reduce_scatter": try comm.reduceScatter(x.pointer, bounds: bounds)
                default: try comm.allGather(x.pointer, bounds: bounds)
                }
                if i >= 3 { t[op]!.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9) }
            }
        }
        res["\(mb)MB"] = t.mapValues(median)
    }
    if comm.rank == 0 { emit("collectives", ["tag": "collectives_np\(comm.size)", "ranks": comm.size, "iterations": iterations, "median_s": res]) }
}

/// `lora-generate PATH`: what adapters cost generation when merged into the packed weights (the way the
/// pipeline generates): the packing of the inference weights without and with rank-16 adapters on all seven
/// projections (the merge included), and greedy decoding at batch 1 and 8 (32-token prompts, 64 new) through
/// each; the two must decode at the same speed.
func benchLoRAGenerate(path: String) throws {
    let model = try Checkpoint.load(path: path).model
    var rng = RandomStream(seed: 5)
    var fields: [String: Any] = ["tag": "lora_generate_\(modelLabel(path))_t\(Parallel.threads)"]
    for adapters in [false, true] {
        if adapters {
            try model.attach(try LoRAConfig(rank: 16), seed: 1)
            let a = model.adapters!
            for spec in a.layout.tensors where spec.name.hasSuffix("lora_B.weight") {
                for i in 0..<spec.count { a.params.pointer[spec.offset + i] = Float(rng.normal()) * 0.01 }
            }
        }
        let name = adapters ? "lora16" : "base"
        fields["\(name)_pack_s"] = time(warmup: 0, iterations: 3) { _ = PackedWeights(model) }.median
        for batch in [1, 8] {
            let requests = (0..<batch).map { i in
                GenerationRequest(promptIndex: i, sampleIndex: 0, prompt: (0..<32).map { _ in Int32(3 + rng.int(below: model.config.vocabSize - 3)) })
            }
            var params = SamplingParameters()
            params.temperature = 0; params.maxNewTokens = 64; params.ignoreEOS = true
            let generator = Generator(model: model, tokenizer: nil, batchSize: batch)
            let t = time(warmup: 1, iterations: 3) { _ = try! generator.generate(requests, params: params) }
            fields["\(name)_b\(batch)_tokens_per_s"] = Double(batch * 64) / t.median
        }
    }
    emit("lora_generate", fields)
}
