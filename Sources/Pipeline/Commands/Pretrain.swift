import Alignment
import Cluster
import Foundation
import Kernels
import Generation
import Logging
import Model
import Tokenizer

/// The first demo: train a small Llama from scratch on text (the built-in pages by default) with the
/// byte tokenizer, show the loss falling, then sample from it and save it in Hugging Face layout.
public struct PretrainOptions: Sendable {
    public var shape = "tiny"
    public var steps = 300
    public var batch = 8
    public var sequence = 128
    public var learningRate: Float = 3e-3
    public var warmup = 20
    public var seed: UInt64 = 0
    public var textFile: String?
    public var output: String?
    /// 1: ZeRO-1 (AdamW moments sharded over the ranks).
    public var zero = 0
    public var samplePrompts = ["The keeper", "In the winter", "Ten ships came and"]
    public var sampleTokens = 120
    public var temperature: Float = 0.7
    public init() {}
}

public struct PretrainResult: Sendable {
    public var firstLoss: Double
    public var finalLoss: Double
    public var samples: [String]
    public var tokensPerSecond: Double
}

public enum Pretrain {
    public static func run(_ o: PretrainOptions, cluster: Cluster, logger: Logger) throws -> PretrainResult {
        let text: String
        if let path = o.textFile {
            guard let t = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw PipelineError("\(path): cannot read as UTF-8 text")
            }
            text = t
        } else {
            text = BuiltinText.corpus
        }
        let tokenizer = BPETokenizer.bytes()
        let data = tokenizer.encode(text, parseSpecial: false)
        guard var config = LlamaConfig.named(o.shape, vocabSize: tokenizer.vocabularySize) else {
            throw PipelineError("--shape: unknown shape '\(o.shape)' (one of \(LlamaConfig.shapeNames.joined(separator: ", ")))")
        }
        guard o.steps > 0, o.batch > 0, o.sequence > 1 else { throw PipelineError("--steps, --batch and --seq must be positive (seq > 1)") }
        guard o.sequence <= config.maxPositions else {
            throw PipelineError("--seq \(o.sequence) exceeds the \(o.shape) shape's context of \(config.maxPositions)")
        }
        guard data.count > o.sequence + 1 else {
            throw PipelineError("the text has \(data.count) tokens; it needs more than --seq + 1 = \(o.sequence + 1)")
        }
        config.bosTokenId = Int(tokenizer.bosTokenId!)
        config.eosTokenIds = [Int(tokenizer.eosTokenId!)]
        let model = try cluster.initialise(config, seed: o.seed)
        logger.info("pretrain: \(o.shape) shape, \(model.parameterCount) parameters, \(data.count) byte tokens of text, \(o.steps) steps of \(o.batch)x\(o.sequence), \(cluster.size) rank(s) x \(Parallel.threads) threads")
        let setup = TrainerSetup(adamW: AdamWSettings(learningRate: o.learningRate, beta1: 0.9, beta2: 0.95, weightDecay: 0.1),
                                 maxGradNorm: 1, scope: TrainingScope(zero: o.zero))
        let trainer = try cluster.trainer(setup, model: model)
        let schedule = LearningRateSchedule(kind: .cosine, peak: o.learningRate, warmupSteps: o.warmup, totalSteps: o.steps, minRatio: 0.1)
        var rng = RandomStream(key: o.seed, 1)
        let progress = Progress("train", total: o.steps, logger: logger, logEvery: 25)
        var first = 0.0, recent: [Double] = []
        let start = Date()
        for step in 1...o.steps {
            var ids: [[Int32]] = [], targets: [[Int32]] = []
            for _ in 0..<o.batch {
                let s = rng.int(below: data.count - o.sequence - 1)
                ids.append(Array(data[s..<(s + o.sequence)]))
                targets.append(Array(data[(s + 1)...(s + o.sequence)]))
            }
            let batch = TrainBatch(ids: ids, targets: targets, learningRate: schedule.rate(at: step))
            let r = try trainer.step(batch)
            if trainer.trainer.lastUpdateSkipped {
                throw PipelineError("pretrain: step \(step) of \(o.steps) has a non-finite loss or gradient (loss \(r.loss), grad_norm \(r.gradNorm)) at lr \(batch.learningRate); the weights were not updated, training stops and no model is saved. A lower --lr may help.")
            }
            let lr = batch.learningRate
            if step == 1 { first = r.loss }
            recent.append(r.loss)
            if recent.count > 10 { recent.removeFirst() }
            let avg = recent.reduce(0, +) / Double(recent.count)
            progress.advance(status: String(format: "loss %.3f  lr %.2e  |g| %.2f", avg, lr, r.gradNorm))
        }
        let seconds = Date().timeIntervalSince(start)
        let final = recent.reduce(0, +) / Double(recent.count)
        let tps = Double(o.steps * o.batch * o.sequence) / seconds
        logger.info("pretrain: loss \(String(format: "%.3f", first)) -> \(String(format: "%.3f", final)) (mean of the last \(recent.count) steps) in \(String(format: "%.1f", seconds)) s, \(Int(tps)) tokens/s")
        var params = SamplingParameters()
        params.temperature = o.temperature; params.maxNewTokens = o.sampleTokens; params.seed = o.seed
        let generator = Generator(model: model, tokenizer: tokenizer, batchSize: o.samplePrompts.count)  // on rank 0
        let requests = o.samplePrompts.enumerated().map {
            GenerationRequest(promptIndex: $0.offset, sampleIndex: 0, prompt: tokenizer.encode($0.element, parseSpecial: false))
        }
        let samples = try generator.generate(requests, params: params).enumerated().map { o.samplePrompts[$0.offset] + $0.element.text }
        if trainer.syncSeconds > 0 { logger.info("pretrain: gradient all-reduce took \(String(format: "%.2f", trainer.syncSeconds)) s of \(String(format: "%.1f", seconds)) s") }
        if let dir = o.output {
            try Checkpoint.save(model, tokenizer: tokenizer, to: URL(fileURLWithPath: dir))
            logger.info("pretrain: saved the model to \(dir)")
        }
        return PretrainResult(firstLoss: first, finalLoss: final, samples: samples, tokensPerSecond: tps)
    }
}

public struct PipelineError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
