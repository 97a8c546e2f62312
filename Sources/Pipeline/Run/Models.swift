import Alignment
import Cluster
import Foundation
import Generation
import Model
import Tokenizer

/// The models of a run, loaded and freed here only: the policy (the run's current model, on every rank),
/// the model the rounds start from, the reference of a round's pairs, and the other models a phase borrows
/// for a while (a teacher, a win-rate judge), after which the workers take up the policy again.
extension RunContext {
    /// How the run's starting model comes to be.
    var startSource: Cluster.ModelSource {
        switch config.model {
        case .shape: return .initialised(policy.config, seed: config.seed)
        case .path(let p): return .file(p)
        }
    }

    /// Where the workers' copy of the policy comes from: its last saved version, or the start.
    var currentSource: Cluster.ModelSource { state.model.map { .file(dir.appendingPathComponent($0).path) } ?? startSource }

    /// Makes `path` (relative to the run directory) the policy on every rank.
    func loadModel(_ path: String) throws {
        policy = try cluster.load(dir.appendingPathComponent(path).path).model
    }

    /// The path of the model the rounds start from (nil: initialised from a shape).
    var startPath: String? {
        if config.initial.contains(where: { if case .sft = $0 { return true } else { return false } }) {
            return dir.appendingPathComponent(initialFolder.relative(.model)).path
        }
        if case .file(let p) = startSource { return p }
        return nil
    }

    /// Makes the model the rounds started from (after the initial phases) the policy on every rank.
    func loadStartModel() throws {
        if config.initial.contains(where: { if case .sft = $0 { return true } else { return false } }) {
            try loadModel(initialFolder.relative(.model))
        } else {
            switch startSource {
            case .file(let p): policy = try cluster.load(p).model
            case .initialised(let c, let seed): policy = try cluster.initialise(c, seed: seed)
            }
        }
    }

    /// `body` with the rounds' starting model as the policy (the reference of `reference: initial`), the
    /// current one put back afterwards.
    ///
    /// When the policy carries LoRA adapters on that very model, it is the policy with its adapters off on
    /// every rank: no model is read.
    func withStartModel<T>(_ body: () throws -> T) throws -> T {
        guard let current = state.model else { return try body() }
        if let base = policy.adapters?.base, base == startPath.map({ URL(fileURLWithPath: $0).standardizedFileURL.path }) {
            return try cluster.withAdaptersOff(policy, body)
        }
        try loadStartModel()
        let result = try body()
        try loadModel(current)
        return result
    }

    /// `body` with another model (any model path) on every rank: rank 0 keeps it beside the policy, the
    /// workers hold it instead of the policy until `body` returns. `role` names it in errors; `precision`
    /// says how a GGUF file's matrices are held (quantized: in their blocks, as a frozen model may be).
    func borrowing<T>(_ path: String, precision: Precision, role: String, _ body: (LlamaModel, BPETokenizer) throws -> T) throws -> T {
        let loaded = try cluster.load(path, precision: precision)
        guard let t = loaded.tokenizer else { throw PipelineError("\(path): the \(role) has no tokenizer") }
        let result = try body(loaded.model, t)
        try cluster.mirror(currentSource)
        return result
    }

    /// The chat format completions are wrapped in: the tokenizer's own when the run's template is chat.
    func chatTemplate(of t: BPETokenizer) -> ChatTemplate? {
        config.data.template == .chat ? ChatTemplate.detect(from: t.chatTemplate) : nil
    }

    /// A completion service over the cluster for `model` (the policy unless given), its prompts in the
    /// model's chat format when the run's template is chat, sampled in batches of `batchSize`.
    func completions(model m: LlamaModel? = nil, tokenizer t: BPETokenizer? = nil, batchSize: Int, progress: String,
                     journal: ChunkJournal? = nil) -> ClusterCompletions {
        let tok = t ?? tokenizer
        return ClusterCompletions(cluster: cluster, model: m ?? policy, tokenizer: tok, template: chatTemplate(of: tok), batchSize: batchSize,
                                  progress: Progress.bars(progress, logger: logger), journal: journal)
    }

    /// Greedy answers of the policy to `problems`.
    /// With `saved`, each finished chunk is written to that folder and a resumed pass starts from the chunks
    /// there, and a stop request (SIGTERM, SIGUSR1) ends the pass after a chunk, as in a generate phase.
    /// With `journal` instead, the chunks go to that journal's next call.
    func greedyAnswers(_ problems: [Problem], maxNewTokens: Int? = nil, saved: SavedChunks? = nil, journal: ChunkJournal? = nil) throws -> [GenerationResult] {
        var params = SamplingParameters.phase(temperature: 0, maxNewTokens: maxNewTokens ?? config.evaluation.maxNewTokens)
        params.seed = config.seed
        let requests = problems.enumerated().map { GenerationRequest(promptIndex: $0.offset, sampleIndex: 0, prompt: task.promptIds($0.element)) }
        let local = Generator(model: policy, tokenizer: tokenizer, batchSize: config.evaluation.batchSize)
        let batch = config.evaluation.batchSize
        // A bar for the passes that are units of work (saved or journalled), not for SFT's validation passes.
        let progress = saved != nil || journal != nil ? Progress(saved?.key ?? "greedy answers", total: requests.count, logger: logger) : nil
        // With data.thought_tokens the saved or journalled pass is the thoughts'; the responses follow.
        return try ThoughtResponses.generate(cluster: cluster, requests: requests, params: params, thoughtTokens: config.data.thoughtTokens,
                                             batchSize: batch, local: local, tokenizer: tokenizer) { first in
            guard let saved else {
                let call = try journal?.nextCall(GenerationResult.self)
                progress?.advance(call?.completed.values.reduce(0) { $0 + $1.count } ?? 0)
                return try cluster.generate(requests, params: first, batchSize: batch, chunkSize: batch, local: local,
                                            onFinish: { _ in progress?.advance() }, completed: call?.completed ?? [:], onResult: call?.save)
            }
            let completed = try saved.folder.completedChunks(saved.file)
            progress?.advance(completed.values.reduce(0) { $0 + $1.count })
            return try cluster.generate(requests, params: first, batchSize: batch, chunkSize: batch,
                                        local: local, onFinish: { _ in progress?.advance() }, completed: completed) { chunk, rs in
                try saved.folder.writeChunk(chunk, rs, in: saved.file)
                KillSwitch.point("\(saved.key)/chunk/\(chunk)")
                Preemption.point("\(saved.key)/chunk/\(chunk)")
                try Preemption.check("\(saved.key), after evaluation chunk \(chunk) (the chunks so far are saved)")
            }
        }
    }

    /// Greedy accuracy of the policy on `problems` (resumable chunk by chunk with `saved`).
    func accuracy(on problems: [Problem], label: String, saved: SavedChunks? = nil) throws -> EvaluationResult {
        try answered(problems, label: label, saved: saved).result
    }

    /// The same, with the answers.
    func answered(_ problems: [Problem], label: String, saved: SavedChunks? = nil) throws -> (result: EvaluationResult, answers: [GenerationResult]) {
        let results = try greedyAnswers(problems, saved: saved)
        return (EvaluationResult(label: label, correct: zip(results, problems).map { task.isCorrect($0.text, $1) },
                                 lengths: results.map { $0.tokens.count }), results)
    }
}

/// Where a greedy pass keeps its finished chunks (`folder`'s partial folder `file`), named `key` in logs.
struct SavedChunks {
    let folder: RoundFolder, file: RunFile, key: String
}
