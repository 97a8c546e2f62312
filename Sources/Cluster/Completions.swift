import Alignment
import Foundation
import Generation
import Model
import Tokenizer

/// Completions from the model every rank holds, sharded over the ranks like any generation. Prompts are
/// wrapped in the chat format when there is one.
public struct ClusterCompletions: CompletionService {
    let cluster: Cluster
    let generator: Generator
    let encoder: PromptEncoder
    let batchSize: Int
    /// Called at the start of every `complete` call with the number of completions it asks for; returns
    /// what to call as each one finishes (a progress bar), or nil.
    let progress: ((Int) -> (() -> Void))?
    /// Where finished chunks are saved, call by call, for a phase that resumes part-way (nil: not saved).
    let journal: ChunkJournal?

    public init(cluster: Cluster, model: LlamaModel, tokenizer: BPETokenizer, template: ChatTemplate?, batchSize: Int,
                progress: ((Int) -> (() -> Void))? = nil, journal: ChunkJournal? = nil) {
        self.cluster = cluster; self.batchSize = batchSize; self.progress = progress; self.journal = journal
        encoder = PromptEncoder(tokenizer: tokenizer, template: template)
        generator = Generator(model: model, tokenizer: tokenizer, batchSize: batchSize)
    }

    public func generate(_ prompts: [String], samples: Int, params: SamplingParameters) throws -> [[Completion]] {
        let requests = prompts.map(encoder.encode).enumerated().flatMap { i, p in
            (0..<samples).map { GenerationRequest(promptIndex: i, sampleIndex: $0, prompt: p) }
        }
        let advance = progress?(requests.count)
        let saved = try journal?.nextCall(GenerationResult.self)
        let results = try cluster.generate(requests, params: encoder.stops(params), batchSize: batchSize, chunkSize: batchSize,
                                           local: generator, onFinish: { _ in advance?() }, completed: saved?.completed ?? [:], onResult: saved?.save)
        var out = [[Completion]](repeating: [], count: prompts.count)
        for r in results { out[r.promptIndex].append(Completion(text: r.text, finishReason: r.finishReason)) }
        return out
    }
}

/// A judge's verdict log-probabilities from the model every rank holds, sharded over the ranks in chunks.
/// The judge's turn is the prompt in the chat format (when there is one) with the answer prefix and each
/// candidate after it, tokenized as model text (never as special tokens); the candidates share the
/// prompt's computation (`ScoringTree`).
public struct ClusterVerdictScorer: VerdictScorer {
    let cluster: Cluster
    let generator: Generator
    let encoder: PromptEncoder
    let chunkSize: Int
    let journal: ChunkJournal?

    public init(cluster: Cluster, model: LlamaModel, tokenizer: BPETokenizer, template: ChatTemplate?, chunkSize: Int = 16) {
        self.cluster = cluster; self.chunkSize = chunkSize; journal = nil
        encoder = PromptEncoder(tokenizer: tokenizer, template: template)
        generator = Generator(model: model, tokenizer: tokenizer, batchSize: 16)
    }

    /// The scorer of the model `completions` generates with (sharing its packed weights).
    public init(_ completions: ClusterCompletions, chunkSize: Int = 16) {
        cluster = completions.cluster; encoder = completions.encoder; generator = completions.generator; self.chunkSize = chunkSize
        journal = completions.journal
    }

    /// The token sequences of a query, one per candidate.
    public func sequences(_ q: VerdictQuery) -> [[Int32]] {
        let prompt = encoder.encode(q.prompt)
        return q.candidates.map { prompt + encoder.tokenizer.encode(q.answerPrefix + $0, parseSpecial: false) }
    }

    /// A prompt longer than the model's context keeps its last tokens, as generation's prompts do.
    public func logprobs(_ queries: [VerdictQuery]) throws -> [[Double]] {
        let context = generator.model.config.maxPositions
        let trees = try queries.map { try ScoringTree(sequences: sequences($0), context: context) }
        let saved = try journal?.nextCall([Double].self)
        return try cluster.score(trees: trees, chunkSize: chunkSize, local: generator, completed: saved?.completed ?? [:], onResult: saved?.save)
    }
}
