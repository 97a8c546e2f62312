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

    public init(cluster: Cluster, model: LlamaModel, tokenizer: BPETokenizer, template: ChatTemplate?, batchSize: Int,
                progress: ((Int) -> (() -> Void))? = nil) {
        self.cluster = cluster; self.batchSize = batchSize; self.progress = progress
        encoder = PromptEncoder(tokenizer: tokenizer, template: template)
        generator = Generator(model: model, tokenizer: tokenizer, batchSize: batchSize)
    }

    public func complete(_ prompts: [String], samples: Int, params: SamplingParameters) throws -> [[String]] {
        let requests = prompts.map(encoder.encode).enumerated().flatMap { i, p in
            (0..<samples).map { GenerationRequest(promptIndex: i, sampleIndex: $0, prompt: p) }
        }
        let advance = progress?(requests.count)
        let results = try cluster.generate(requests, params: encoder.stops(params), batchSize: batchSize, chunkSize: batchSize,
                                           local: generator, onFinish: { _ in advance?() })
        var out = [[String]](repeating: [], count: prompts.count)
        for r in results { out[r.promptIndex].append(r.text) }
        return out
    }
}
