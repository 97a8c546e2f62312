import Cluster
import Foundation
import Generation
import Kernels
import Logging
import Model
import Tokenizer

/// What the model-level subcommands do (`logprobs`, `tokenize`, `generate`, `convert`); the executable
/// only parses arguments and prints.
public enum ModelCommands {
    public static func load(_ path: String, precision: Precision = .float32, logger: Logger) throws -> LoadedModel {
        try Cluster.read(path, precision: precision, logger: logger)
    }

    /// The help of the commands' `--precision` option.
    public static let precisionHelp = "quantized: a .gguf file's matrices stay in their blocks (inference only, the file's size in memory); float32: expanded. A Hugging Face directory is always float32."

    /// A `--precision` value.
    public static func precision(_ s: String) throws -> Precision {
        guard let p = Precision(rawValue: s) else { throw PipelineError("--precision: '\(s)' is not quantized or float32") }
        return p
    }

    public static func requireTokenizer(_ loaded: LoadedModel) throws -> BPETokenizer {
        guard let t = loaded.tokenizer else { throw PipelineError("\(loaded.source): the model has no tokenizer; give token ids instead of text") }
        return t
    }

    /// One output line per input line of `{"ids": [...]}` or `{"text": "..."}`:
    /// `{"token_logprobs": [...], "sum": s}` with log p(x_{t+1} | x_0..x_t) for t = 0..n-2.
    public static func logprobs(model path: String, precision: Precision = .quantized, input: String, logger: Logger) throws -> [String] {
        let loaded = try load(path, precision: precision, logger: logger)
        var sequences: [[Int32]] = []
        for (line, value) in try JSONLines.read(input) {
            let whereText = "\(input):\(line)"
            if let ids = value["ids"]?.array {
                sequences.append(try ids.map {
                    guard let i = $0.int, i >= 0, i < loaded.model.config.vocabSize else {
                        throw PipelineError("\(whereText): \"ids\" must hold integers in 0..<\(loaded.model.config.vocabSize), got \($0.summary)")
                    }
                    return Int32(i)
                })
            } else if let text = value["text"]?.string {
                sequences.append(try requireTokenizer(loaded).encodePrompt(text))
            } else {
                throw PipelineError("\(whereText): expected {\"ids\": [...]} or {\"text\": \"...\"}")
            }
            guard sequences.last!.count >= 1 else { throw PipelineError("\(whereText): empty sequence") }
            guard sequences.last!.count <= loaded.model.config.maxPositions else {
                throw PipelineError("\(whereText): \(sequences.last!.count) tokens exceed the model's context of \(loaded.model.config.maxPositions)")
            }
        }
        let results = loaded.model.quantized != nil ? try Generator.tokenLogProbs(model: loaded.model, sequences)
            : try loaded.model.tokenLogProbs(sequences)
        return results.map { lp in
            let sum = lp.reduce(0.0) { $0 + Double($1) }
            return "{\"token_logprobs\": [\(lp.map { JSONLines.number($0) }.joined(separator: ", "))], \"sum\": \(JSONLines.number(sum))}"
        }
    }

    public static func tokenize(model path: String, text: String, logger: Logger) throws -> String {
        let loaded = try load(path, logger: logger)
        let ids = try requireTokenizer(loaded).encode(text)
        return "[" + ids.map(String.init).joined(separator: ", ") + "]"
    }

    public struct GenerateOptions: Sendable {
        public var prompt: String
        public var chat = false
        public var precision = Precision.quantized
        public var sampling = SamplingParameters()
        public init(prompt: String) { self.prompt = prompt; sampling.temperature = 0; sampling.maxNewTokens = 128 }
    }

    /// Completion of one prompt. Stops at an end-of-sequence token, at the chat format's end-of-turn
    /// string, or after `maxNewTokens`.
    public static func generate(model path: String, _ o: GenerateOptions, logger: Logger) throws -> (ids: [Int32], text: String) {
        let loaded = try load(path, precision: o.precision, logger: logger)
        let tokenizer = try requireTokenizer(loaded)
        var prompt = o.prompt
        var stops: [String] = []
        if o.chat {
            let template = ChatTemplate.detect(from: tokenizer.chatTemplate)
            prompt = template.render([ChatMessage(role: "user", content: o.prompt)])
            stops = template.stopStrings
        }
        let promptIds = tokenizer.encodePrompt(prompt)
        guard !promptIds.isEmpty else { throw PipelineError("--prompt: the prompt is empty") }
        let c = loaded.model.config
        guard promptIds.count < c.maxPositions || o.sampling.truncatePrompts else {
            throw PipelineError("--prompt: \(promptIds.count) tokens do not fit the model's context of \(c.maxPositions)")
        }
        var params = o.sampling
        params.stop += stops
        let result = try Generator(model: loaded.model, tokenizer: tokenizer, batchSize: 1)
            .generate([GenerationRequest(promptIndex: 0, sampleIndex: 0, prompt: promptIds)], params: params)[0]
        return (result.tokens, result.text)
    }

    /// Writes a Hugging Face directory from any loadable model (a GGUF file in practice).
    public static func convert(model path: String, output: String, logger: Logger) throws {
        let loaded = try load(path, logger: logger)
        // An adapter directory becomes a whole model with the adapters merged into its weights.
        try Checkpoint.saveFull(loaded.model.adapters == nil ? loaded.model : loaded.model.merged(), tokenizer: loaded.tokenizer,
                                to: URL(fileURLWithPath: output))
        logger.info("convert: wrote \(output) (\(loaded.model.parameterCount) parameters, float32\(loaded.model.adapters == nil ? "" : ", LoRA adapters merged"))")
    }
}
