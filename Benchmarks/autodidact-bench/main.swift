import Alignment
import AllocationCounter
import CMPI
import Distributed
import Foundation
import Pipeline
import Generation
import Kernels
import Model

/// `autodidact-bench [sgemm] [train SHAPE BATCH SEQ]... [allocations]`: timings printed as JSON lines and
/// written to bench-results/. With no arguments it runs the issue's set: sgemm, train nano 8x256,
/// train smol 4x256, allocations.

func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }

func time(warmup: Int, iterations: Int, _ body: () -> Void) -> (median: Double, all: [Double]) {
    for _ in 0..<warmup { body() }
    var ts: [Double] = []
    for _ in 0..<iterations {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        ts.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    return (median(ts), ts)
}

func emit(_ name: String, _ fields: [String: Any]) {
    var obj = fields
    obj["bench"] = name
    obj["threads"] = Parallel.threads
    obj["openblas_coretype"] = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(auto)"
    let data = try! JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
    try? FileManager.default.createDirectory(atPath: "bench-results", withIntermediateDirectories: true)
    let tag = (fields["tag"] as? String) ?? name
    try? data.write(to: URL(fileURLWithPath: "bench-results/\(tag).json"))
}

/// GFLOP/s of Gemm.sgemm on an M x N x K product (the fast path the model uses).
func sgemmRate(M: Int, N: Int, K: Int, transB: Bool = false) -> Double {
    var rng = RandomStream(seed: 1)
    let a = FloatBuffer(count: M * K), b = FloatBuffer(count: K * N), c = FloatBuffer(count: M * N)
    for i in 0..<a.count { a[i] = Float(rng.uniform()) }
    for i in 0..<b.count { b[i] = Float(rng.uniform()) }
    let iters = max(3, Int(2e10 / Double(2 * M * N * K)))
    let t = time(warmup: 1, iterations: iters) {
        Gemm.sgemm(transB: transB, M: M, N: N, K: K, A: a.pointer, lda: K, B: b.pointer, ldb: transB ? K : N,
                   C: c.pointer, ldc: N)
    }
    return 2 * Double(M * N * K) / t.median / 1e9
}

func benchSgemm() {
    var rates: [String: Double] = [:]
    for n in [512, 1024, 2048] { rates["\(n)"] = sgemmRate(M: n, N: n, K: n) }
    emit("sgemm", ["tag": "sgemm_t\(Parallel.threads)", "gflops_by_n": rates])
}

/// GFLOP/s of every matrix product shape in a training step of `shape` at batch x seq tokens.
func benchGemmShapes(shape: String, tokens: Int) {
    let c = LlamaConfig.named(shape)!
    let C = c.hiddenSize, F = c.intermediateSize, V = c.vocabSize, Q = c.qkvDim, N = tokens
    // (label, transA, transB, M, N, K)
    let shapes: [(String, Bool, Bool, Int, Int, Int)] = [
        ("qkv fwd", false, true, N, Q, C), ("qkv dx", false, false, N, C, Q), ("qkv dw", true, false, Q, C, N),
        ("o fwd", false, true, N, C, c.qDim), ("gate_up fwd", false, true, N, 2 * F, C),
        ("gate_up dx", false, false, N, C, 2 * F), ("gate_up dw", true, false, 2 * F, C, N),
        ("down fwd", false, true, N, C, F), ("down dx", false, false, N, F, C), ("down dw", true, false, C, F, N),
        ("lm_head fwd", false, true, N, V, C), ("lm_head dx", false, false, N, C, V), ("lm_head dw", true, false, V, C, N),
    ]
    var rows: [String: Double] = [:]
    for (label, tA, tB, M, Nn, K) in shapes {
        var rng = RandomStream(seed: 1)
        let a = FloatBuffer(count: M * K), b = FloatBuffer(count: K * Nn), out = FloatBuffer(count: M * Nn)
        for i in 0..<a.count { a[i] = Float(rng.uniform()) }
        for i in 0..<b.count { b[i] = Float(rng.uniform()) }
        let iters = max(3, Int(1e10 / Double(2 * M * Nn * K)))
        let t = time(warmup: 1, iterations: iters) {
            Gemm.sgemm(transA: tA, transB: tB, M: M, N: Nn, K: K, A: a.pointer, lda: tA ? M : K, B: b.pointer,
                       ldb: tB ? K : Nn, beta: 1, C: out.pointer, ldc: Nn)
        }
        rows[label] = 2 * Double(M * Nn * K) / t.median / 1e9
    }
    emit("gemm_shapes", ["tag": "gemm_shapes_\(shape)_n\(tokens)_t\(Parallel.threads)", "model": shape, "tokens": tokens, "gflops": rows])
}

/// PackedGemm (the decoding product) on the smol shape's weight matrices for several row counts: GFLOP/s
/// and weight bytes streamed per second.
func benchRowwise(only: Int? = nil) {
    let c = LlamaConfig.named("smol")!
    var mats = [("qkv", c.qkvDim, c.hiddenSize), ("gate_up", 2 * c.intermediateSize, c.hiddenSize),
                ("down", c.hiddenSize, c.intermediateSize), ("lm_head", c.vocabSize, c.hiddenSize)]
    if only != nil { mats = [("lm_head", c.vocabSize, c.hiddenSize)] }
    var rows: [String: [String: Double]] = [:]
    for M in only.map({ [$0] }) ?? [1, 8, 64, 512] {
        var entry: [String: Double] = [:]
        for (label, N, K) in mats {
            var rng = RandomStream(seed: 1)
            let x = FloatBuffer(count: M * K), w = FloatBuffer(count: N * K), out = FloatBuffer(count: M * N)
            for i in 0..<x.count { x[i] = Float(rng.uniform()) }
            for i in 0..<w.count { w[i] = Float(rng.uniform()) }
            let iters = max(5, Int(4e9 / Double(2 * M * N * K + 4 * N * K)))
            let packed = PackedMatrix(w.pointer, outDim: N, inDim: K)
            let t = time(warmup: 1, iterations: iters) {
                PackedGemm.multiply(out: out.pointer, x: x.pointer, w: packed, rows: M)
            }
            entry[label + "_gflops"] = 2 * Double(M * N * K) / t.median / 1e9
            entry[label + "_weight_gbps"] = 4 * Double(N * K) / t.median / 1e9
        }
        rows["\(M)"] = entry
    }
    emit("rowwise", ["tag": "rowwise_smol_t\(Parallel.threads)", "by_rows": rows])
}

/// Decoding attention of the smol shape, one step of 64 rows at position `position` over 30 layers:
/// once with every layer's cache distinct (read from memory, as in generation) and once with one layer's
/// cache reused (it stays in cache), in GB/s of keys and values read.
func benchAttention(position: Int) {
    let c = LlamaConfig.named("smol")!
    let shape = Attention.Shape(heads: c.numHeads, kvHeads: c.numKVHeads, headDim: c.headDim, qStride: c.qkvDim,
                                kvStride: c.kvDim, outStride: c.qDim)
    let rows = 64, layers = c.numLayers, n = position + 1
    let att = CachedAttention(shape: shape, capacity: (n + 15) / 16 * 16)
    var rng = RandomStream(seed: 1)
    let keys = FloatBuffer(count: layers * rows * att.slotStride, hugePages: false)
    let values = FloatBuffer(count: layers * rows * att.slotStride, hugePages: false)
    for i in 0..<keys.count { keys[i] = Float(rng.uniform()); values[i] = Float(rng.uniform()) }
    let q = FloatBuffer(count: rows * c.qkvDim), out = FloatBuffer(count: rows * c.qDim)
    for i in 0..<q.count { q[i] = Float(rng.uniform()) }
    let slots = (0..<rows).map { Int32($0) }, pos = [Int32](repeating: Int32(position), count: rows)
    let scratch = FloatBuffer(count: att.scratchCount(rows: rows, span: n))
    let bytes = Double(layers * rows * n * c.kvDim * 8)
    var entry: [String: Double] = [:]
    for (label, distinct) in [("memory", layers), ("cached", 1)] {
        let t = time(warmup: 1, iterations: 10) {
            for l in 0..<layers {
                let o = (l % distinct) * rows * att.slotStride
                att.forward(out: out.pointer, q: q.pointer, keys: keys.pointer + o, values: values.pointer + o, slot: slots,
                            pos: pos, rows: rows, span: n, scratch: scratch.pointer)
            }
        }
        entry[label + "_ms"] = t.median * 1e3
        entry[label + "_gbps"] = bytes / t.median / 1e9
    }
    emit("attention", ["tag": "attention_smol_b64_pos\(position)_t\(Parallel.threads)", "position": position, "rows": rows,
                       "by_source": entry])
}

/// Generation as ../shared/anchors/bench_gen.py times it: B prompts of 32 random ids, exactly `new` new
/// tokens each (end-of-sequence ignored), temperature 0.8, no top-k/top-p; prefill included.
func benchGenerate(shape: String, batch: Int, new: Int, iterations: Int, modelPath: String? = nil) {
    let model: LlamaModel
    var label = shape
    if let path = modelPath {
        model = try! Checkpoint.load(path: path).model
        label = modelLabel(path)
    } else {
        model = LlamaModel.randomlyInitialised(config: LlamaConfig.named(shape)!, seed: 0)
    }
    var rng = RandomStream(seed: 5)
    let requests = (0..<batch).map { i in
        GenerationRequest(promptIndex: i, sampleIndex: 0,
                          prompt: (0..<32).map { _ in Int32(3 + rng.int(below: model.config.vocabSize - 3)) })
    }
    var params = SamplingParameters()
    params.temperature = 0.8; params.maxNewTokens = new; params.ignoreEOS = true
    // sgemm is measured before and after the generation and the faster figure sets the bound: on this
    // shared VM a single measurement can land in a slow minute and make the bound look easy.
    let sgemmBefore = sgemmRate(M: 2048, N: 2048, K: 2048)
    let generator = Generator(model: model, tokenizer: nil, batchSize: batch)
    let t = time(warmup: 1, iterations: iterations) { _ = try! generator.generate(requests, params: params) }
    let sgemm = max(sgemmBefore, sgemmRate(M: 2048, N: 2048, K: 2048))
    let tokensPerSecond = Double(batch * new) / t.median
    let bound = sgemm * 1e9 / (2 * Double(model.parameterCount))
    emit("generate", ["tag": "gen_\(label)_b\(batch)_t\(Parallel.threads)", "model": label, "batch": batch, "prompt_len": 32,
                      "new_tokens": new, "median_s": t.median, "times_s": t.all, "gen_tokens_per_s": tokensPerSecond,
                      "gflops_2N": 2 * Double(model.parameterCount) * Double(batch * new) / t.median / 1e9,
                      "sgemm_gflops_2048": sgemm, "compute_bound_tokens_per_s": bound, "fraction_of_bound": tokensPerSecond / bound])
}

/// All-reduce (sum) of 1, 16 and 128 MB float buffers under mpirun: the communicator's all-reduce beside a
/// raw blocking MPI_Allreduce of the same buffer; each call after a barrier, time on rank 0, median.
func benchAllReduce(iterations: Int) throws {
    let comm = try MPICommunicator()
    var res: [String: [String: Double]] = [:]
    for mb in [1, 16, 128] {
        let n = mb * 1024 * 1024 / 4
        let x = FloatBuffer(count: n)
        var ours: [Double] = [], raw: [Double] = []
        for i in 0..<(iterations + 3) {
            for (which, useRaw) in [(0, false), (1, true)] {
                x.pointer.update(repeating: Float(comm.rank + 1), count: n)
                try comm.barrier()
                let t0 = DispatchTime.now().uptimeNanoseconds
                if useRaw {
                    MPI_Allreduce(autodidact_in_place(), x.pointer, Int32(n), autodidact_float(), autodidact_op_sum(), autodidact_comm_world())
                } else {
                    try comm.allReduce(x.pointer, count: n, op: .sum)
                }
                let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                if i >= 3 { if which == 0 { ours.append(dt) } else { raw.append(dt) } }
                let want = Float(comm.size * (comm.size + 1) / 2)
                if x[0] != want || x[n - 1] != want { FileHandle.standardError.write("allreduce: wrong sum\n".data(using: .utf8)!); exit(1) }
            }
        }
        res["\(mb)MB"] = ["communicator_median_s": median(ours), "raw_mpi_median_s": median(raw),
                           "communicator_algbw_GBps": Double(mb * 1024 * 1024) / median(ours) / 1e9]
    }
    if comm.rank == 0 { emit("allreduce", ["tag": "allreduce_np\(comm.size)", "ranks": comm.size, "iterations": iterations, "results": res]) }
}

/// Data-parallel training steps under mpirun (every rank runs the worker's code path): tokens/s and the
/// share of the step spent in the gradient all-reduce.
func benchTrainDP(shape: String, batch: Int, seq: Int, iterations: Int, zero: Int = 0) throws {
    let comm = try Communicators.make()
    let config = LlamaConfig.named(shape)!
    let model = LlamaModel.randomlyInitialised(config: config, seed: 0)
    let dp = try DataParallelTrainer(model: model, setup: TrainerSetup(adamW: AdamWSettings(learningRate: 1e-4), maxGradNorm: nil,
                                                                 microBatchTokens: 1 << 20, checksumEvery: 0, scope: TrainingScope(zero: zero)), comm: comm)
    var rng = RandomStream(seed: 123)
    var ids: [[Int32]] = [], targets: [[Int32]] = []
    for _ in 0..<batch {
        let s = (0..<seq).map { _ in Int32(rng.int(below: config.vocabSize)) }
        ids.append(s)
        targets.append(Array(s.dropFirst()) + [-1])
    }
    let tb = TrainBatch(ids: ids, targets: targets, learningRate: 1e-4)
    _ = try dp.step(tb)
    let sync0 = dp.syncSeconds
    var times: [Double] = []
    for _ in 0..<iterations {
        try comm.barrier()
        let t0 = DispatchTime.now().uptimeNanoseconds
        _ = try dp.step(tb)
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    let syncPerStep = (dp.syncSeconds - sync0) / Double(iterations)
    if comm.rank == 0 {
        emit("train_dp", ["tag": "train_dp_\(shape)_b\(batch)_s\(seq)_np\(comm.size)_z\(zero)_t\(Parallel.threads)", "model": shape, "zero": zero,
                          "peak_rss_mb": Double(peakRSS()) / 1048576,
                          "batch": batch, "seq": seq, "ranks": comm.size, "median_s": median(times), "times_s": times,
                          "tokens_per_s": Double(batch * seq) / median(times), "sync_s_per_step": syncPerStep,
                          "sync_fraction": syncPerStep / median(times)])
    }
}

/// A DPO step (sigmoid, beta 0.1, AdamW) on random pairs, reference log-probs stored with the pairs (as the
/// trainer always uses them): PAIRS pairs of PROMPT + COMPLETION tokens.
func benchDPO(shape: String, pairs count: Int, promptLength: Int, completionLength: Int, iterations: Int) throws {
    let config = LlamaConfig.named(shape)!
    let model = LlamaModel.randomlyInitialised(config: config, seed: 0)
    var rng = RandomStream(seed: 7)
    func ids(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.int(below: config.vocabSize)) } }
    var pairs = (0..<count).map { _ in TokenizedPair(prompt: ids(promptLength), chosen: ids(completionLength), rejected: ids(completionLength)) }
    try CompletionScoring.fillReference(&pairs, model: model)
    let trainer = try PreferenceTrainer(model: model, loss: DPOLoss(beta: 0.1), adamW: AdamWSettings(learningRate: 1e-5),
                                    maxGradNorm: nil, microBatchTokens: 1 << 20, comm: LocalCommunicator())
    let t = time(warmup: 2, iterations: iterations) { _ = try! trainer.step(pairs, lr: 1e-5) }
    emit("dpo", ["tag": "dpo_\(shape)_p\(count)_\(promptLength)_\(completionLength)_t\(Parallel.threads)", "model": shape, "pairs": count,
                 "prompt_len": promptLength, "completion_len": completionLength, "median_s": t.median, "times_s": t.all,
                 "steps_per_s": 1 / t.median])
}

/// A short name for a model file or directory in result tags ("smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct").
func modelLabel(_ path: String) -> String {
    let name = URL(fileURLWithPath: path).lastPathComponent.lowercased()
    return name.components(separatedBy: ".q").first.map { $0.replacingOccurrences(of: ".gguf", with: "") } ?? name
}

/// A training step (forward, backward, AdamW) as ../shared/anchors/bench_train.py times it, on the shape
/// `shape` (random weights) or on the model at `modelPath`.
func benchTrain(shape: String, batch: Int, seq: Int, iterations: Int, modelPath: String? = nil) {
    let model = modelPath.map { try! Checkpoint.load(path: $0).model } ?? LlamaModel.randomlyInitialised(config: LlamaConfig.named(shape)!, seed: 0)
    let config = model.config
    let shape = modelPath.map(modelLabel) ?? shape
    let trainer = Trainer(model: model, settings: AdamWSettings(learningRate: 1e-4), maxGradNorm: nil)
    var rng = RandomStream(seed: 123)
    let ids = (0..<(batch * seq)).map { _ in Int32(rng.int(below: config.vocabSize)) }
    // HF's causal-LM loss with labels = input_ids: each row predicts the next token; the last is unscored.
    var targets = ids
    for b in 0..<batch {
        for t in 0..<seq { targets[b * seq + t] = t + 1 < seq ? ids[b * seq + t + 1] : -1 }
    }
    let packing = Packing(count: batch, length: seq)
    let tokens = Double(batch * seq), n = Double(model.parameterCount)
    // (sgemm measured before the steps, in the same process, so the two figures are from one run)
    let attnFlops = 12 * Double(config.numLayers) * Double(seq) * Double(config.hiddenSize) * tokens
    let sgemm2048 = sgemmRate(M: 2048, N: 2048, K: 2048)
    let sgemmShape = sgemmRate(M: batch * seq, N: config.intermediateSize * 2, K: config.hiddenSize, transB: true)
    let t = time(warmup: 1, iterations: iterations) { trainer.trainStep(ids: ids, targets: targets, packing: packing) }
    // The step's parts: forward alone, and forward + backward (no optimizer).
    let fwd = time(warmup: 1, iterations: iterations) { model.forward(ids: ids, targets: targets, packing: packing, workspace: trainer.workspace) }
    let fwdBwd = time(warmup: 1, iterations: iterations) { trainer.grads.zero(); trainer.accumulateNLL(ids: ids, targets: targets, packing: packing, scale: nil) }
    emit("train", ["tag": "train_\(shape)_b\(batch)_s\(seq)_t\(Parallel.threads)", "model": shape, "batch": batch, "seq": seq,
                   "n_params": model.parameterCount, "median_s": t.median, "times_s": t.all,
                   "tokens_per_s": tokens / t.median, "forward_s": fwd.median, "forward_backward_s": fwdBwd.median, "gflops_6N": 6 * n * tokens / t.median / 1e9,
                   "gflops_6N_plus_attn": (6 * n * tokens + attnFlops) / t.median / 1e9,
                   "sgemm_gflops_2048": sgemm2048, "sgemm_gflops_gate_up_shape": sgemmShape])
}

func benchAllocations() {
    let config = LlamaConfig.named("nano")!
    let model = LlamaModel.randomlyInitialised(config: config, seed: 0)
    let trainer = Trainer(model: model, settings: AdamWSettings(learningRate: 1e-4), maxGradNorm: 1)
    let packing = Packing(lengths: [200, 56, 128])
    var rng = RandomStream(seed: 5)
    let ids = (0..<packing.tokens).map { _ in Int32(rng.int(below: config.vocabSize)) }
    let targets = (0..<packing.tokens).map { _ in Int32(rng.int(below: config.vocabSize)) }
    var rows: [[String: Any]] = []
    let saved = Parallel.threads
    for threads in Array(Set([1, saved])).sorted() {
        Parallel.threads = threads
        trainer.trainStep(ids: ids, targets: targets, packing: packing)  // sizes every buffer
        let regions0 = Parallel.regionsRun
        allocation_counter_start()
        for _ in 0..<3 { trainer.trainStep(ids: ids, targets: targets, packing: packing) }
        let allocations = allocation_counter_stop()
        rows.append(["threads": threads, "steps": 3, "heap_allocations": allocations,
                     "parallel_regions": Parallel.regionsRun - regions0])
    }
    Parallel.threads = saved
    emit("allocations", ["tag": "allocations", "model": "nano", "runs": rows])
}

/// GFLOP/s of the decoding product (PackedGemm) over a Qwen2.5-0.5B-shaped stack of 24 layers (1.4 GB of
/// float32 weights, more than any cache) at M rows: the product that bounds batched generation.
func benchPacked(rows M: Int) {
    let hidden = 896, qkv = 1152, ffn = 4864, layers = 24
    let shapes = [(qkv, hidden), (hidden, hidden), (2 * ffn, hidden), (hidden, ffn)]
    var mats: [PackedMatrix] = []
    let maxK = ffn
    let x = FloatBuffer(count: M * maxK), out = FloatBuffer(count: M * 2 * ffn)
    for i in 0..<(M * maxK) { x.pointer[i] = Float(i % 17) * 0.01 }
    for (n, k) in shapes {
        let w = FloatBuffer(count: n * k)
        for i in 0..<(n * k) { w.pointer[i] = Float(i % 13) * 0.001 }
        for _ in 0..<layers { mats.append(PackedMatrix(UnsafePointer(w.pointer), outDim: n, inDim: k)) }
    }
    let flops = Double(mats.reduce(0) { $0 + 2 * M * $1.outDim * $1.inDim })
    let t = time(warmup: 1, iterations: 5) {
        for m in mats { PackedGemm.multiply(out: out.pointer, x: UnsafePointer(x.pointer), w: m, rows: M) }
    }
    // The ceiling: the same weights only read and summed, eight-wide, on the same threads.
    let bytes = flops / Double(2 * M) * 4
    let sums = FloatBuffer(count: 64 * Parallel.threads)
    let read = time(warmup: 1, iterations: 5) {
        for m in mats {
            let n = (m.outDim + PackedMatrix.panel - 1) / PackedMatrix.panel * PackedMatrix.panel * m.inDim
            let base = m.pointer
            Parallel.tasks(Parallel.threads) { t in
                let lo = n * t / Parallel.threads / 32 * 32, hi = n * (t + 1) / Parallel.threads / 32 * 32
                var a = SIMD8<Float>(), b = SIMD8<Float>(), c = SIMD8<Float>(), d = SIMD8<Float>()
                var i = lo
                while i < hi {
                    let r = UnsafeRawPointer(base + i)
                    a += r.loadUnaligned(as: SIMD8<Float>.self); b += r.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
                    c += r.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self); d += r.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
                    i += 32
                }
                sums.pointer[64 * t] += (a + b + c + d).sum()
            }
        }
    }
    emit("packed", ["tag": "packed_m\(M)", "rows": M, "median_s": t.median, "gflops": flops / t.median / 1e9,
                    "gb_per_s": bytes / t.median / 1e9, "read_only_gb_per_s": bytes / read.median / 1e9,
                    "fraction_of_read": read.median / t.median])
}

var args = Array(CommandLine.arguments.dropFirst())
if args.isEmpty {
    args = ["sgemm", "train", "nano", "8", "256", "train", "smol", "4", "256", "allocations",
            "generate", "smol", "1", "generate", "smol", "8", "generate", "smol", "64",
            "dpo", "nano", "4", "65", "62", "dpo", "smol", "1", "128", "128"]
    if let gguf = ProcessInfo.processInfo.environment["SMOLLM2_GGUF"] { args += ["generate-model", gguf, "8"] }
}
var i = 0
while i < args.count {
    switch args[i] {
    case "sgemm": benchSgemm(); i += 1
    case "allocations": benchAllocations(); i += 1
    case "packed": benchPacked(rows: Int(args[i + 1])!); i += 2
    case "rowwise": benchRowwise(); i += 1
    case "dpo":
        guard i + 4 < args.count, LlamaConfig.named(args[i + 1]) != nil, let p = Int(args[i + 2]), let pl = Int(args[i + 3]), let cl = Int(args[i + 4]) else {
            FileHandle.standardError.write("usage: dpo SHAPE PAIRS PROMPT_LEN COMPLETION_LEN\n".data(using: .utf8)!)
            exit(2)
        }
        try! benchDPO(shape: args[i + 1], pairs: p, promptLength: pl, completionLength: cl, iterations: args[i + 1] == "smol" ? 3 : 10); i += 5
    case "allreduce": try! benchAllReduce(iterations: 20); i += 1
    case "collectives": try! benchCollectives(iterations: 10); i += 1
    case "lora-generate": try! benchLoRAGenerate(path: args[i + 1]); i += 2
    case "dpo-model":
        guard i + 5 < args.count, let p = Int(args[i + 2]), let pl = Int(args[i + 3]), let cl = Int(args[i + 4]) else {
            FileHandle.standardError.write("usage: dpo-model PATH PAIRS PROMPT_LEN COMPLETION_LEN full|zero|loraR\n".data(using: .utf8)!)
            exit(2)
        }
        try! benchDPOModel(path: args[i + 1], pairs: p, promptLength: pl, completionLength: cl, mode: args[i + 5], iterations: 3); i += 6
    case "train-dp":
        guard i + 3 < args.count, LlamaConfig.named(args[i + 1]) != nil, let b = Int(args[i + 2]), let s = Int(args[i + 3]) else { exit(2) }
        let zero = i + 4 < args.count ? Int(args[i + 4]) : nil
        try! benchTrainDP(shape: args[i + 1], batch: b, seq: s, iterations: args[i + 1] == "smol" ? 3 : 10, zero: zero ?? 0); i += zero == nil ? 4 : 5
    case "attention":
        guard i + 1 < args.count, let p = Int(args[i + 1]), p >= 0 else {
            FileHandle.standardError.write("usage: attention POSITION\n".data(using: .utf8)!)
            exit(2)
        }
        benchAttention(position: p); i += 2
    case "rowwise-lm":
        benchRowwise(only: Int(args[i + 1])!); i += 2
    case "generate":
        guard i + 2 < args.count, LlamaConfig.named(args[i + 1]) != nil, let b = Int(args[i + 2]) else {
            FileHandle.standardError.write("usage: generate SHAPE BATCH\n".data(using: .utf8)!)
            exit(2)
        }
        benchGenerate(shape: args[i + 1], batch: b, new: 128, iterations: b >= 64 ? 2 : 3); i += 3
    case "generate-model":
        guard i + 2 < args.count, let b = Int(args[i + 2]) else {
            FileHandle.standardError.write("usage: generate-model PATH BATCH\n".data(using: .utf8)!)
            exit(2)
        }
        benchGenerate(shape: "smol", batch: b, new: 128, iterations: 3, modelPath: args[i + 1]); i += 3
    case "quantized":
        guard i + 2 < args.count, let p = Precision(rawValue: args[i + 2]) else {
            FileHandle.standardError.write("usage: quantized PATH quantized|float32\n".data(using: .utf8)!)
            exit(2)
        }
        benchQuantized(path: args[i + 1], precision: p); i += 3
    case "quantized-fidelity":
        guard i + 1 < args.count else { exit(2) }
        benchQuantizedFidelity(path: args[i + 1]); i += 2
    case "train-model":
        guard i + 3 < args.count, let b = Int(args[i + 2]), let s = Int(args[i + 3]) else {
            FileHandle.standardError.write("usage: train-model PATH BATCH SEQ\n".data(using: .utf8)!)
            exit(2)
        }
        benchTrain(shape: "", batch: b, seq: s, iterations: 3, modelPath: args[i + 1]); i += 4
    case "gemm-shapes":
        guard i + 2 < args.count, LlamaConfig.named(args[i + 1]) != nil, let n = Int(args[i + 2]) else { exit(2) }
        benchGemmShapes(shape: args[i + 1], tokens: n); i += 3
    case "train":
        guard i + 3 < args.count, LlamaConfig.named(args[i + 1]) != nil, let b = Int(args[i + 2]), let s = Int(args[i + 3]) else {
            FileHandle.standardError.write("usage: train SHAPE BATCH SEQ (shape: \(LlamaConfig.shapeNames.joined(separator: ", ")))\n".data(using: .utf8)!)
            exit(2)
        }
        benchTrain(shape: args[i + 1], batch: b, seq: s, iterations: args[i + 1] == "smol" ? 3 : 10)
        i += 4
    case "--threads":
        guard i + 1 < args.count, let t = Int(args[i + 1]), t > 0 else { exit(2) }
        Parallel.threads = t; i += 2
    default:
        FileHandle.standardError.write("unknown benchmark '\(args[i])' (sgemm, train SHAPE B T, allocations, --threads N)\n".data(using: .utf8)!)
        exit(2)
    }
}
