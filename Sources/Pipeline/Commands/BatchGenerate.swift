import Cluster
import Foundation
import Generation
import Logging
import Model
import Tokenizer

/// The batch form of `autodidact generate`: K samples for every prompt of a JSON Lines file, written one
/// line per (prompt, sample) in order.
public struct BatchGenerateOptions: Sendable {
    public var model: String
    public var prompts: String
    public var output: String
    public var samples = 1
    public var batchSize = 16
    /// Requests per work chunk handed to a rank (default: the batch size).
    public var chunkSize: Int?
    /// auto (the model's chat format if it has a template, else the text as is), chatml, qwen3 (thinking off),
    /// qwen3-thinking, llama3, plain, none
    public var template = "auto"
    public var thought = false
    public var sampling = SamplingParameters()
    /// How a GGUF model's matrices are held (quantized: in their blocks).
    public var precision = Precision.quantized
    public init(model: String, prompts: String, output: String) { self.model = model; self.prompts = prompts; self.output = output }
}

public enum BatchGenerate {
    public static let templates = ["auto", "chatml", "qwen3", "qwen3-thinking", "llama3", "plain", "none"]
    /// The `--template` choices as the commands' help states them.
    public static let templateHelp = "auto (the model's chat format when it has a template), chatml, qwen3 (thinking off), qwen3-thinking, llama3, plain or none."

    /// The chat format a name selects for a tokenizer (nil: use the text as it is).
    public static func template(named name: String, tokenizer: BPETokenizer) throws -> ChatTemplate? {
        switch name {
        case "auto": return tokenizer.chatTemplate == nil ? nil : ChatTemplate.detect(from: tokenizer.chatTemplate)
        case "chatml": return .chatML(defaultSystem: ChatTemplate.detect(from: tokenizer.chatTemplate).defaultSystem)
        case "qwen3": return .qwen3(thinking: false)
        case "qwen3-thinking": return .qwen3(thinking: true)
        case "llama3": return .llama3
        case "plain": return .plain
        case "none": return nil
        default: throw PipelineError("--template: '\(name)' is not one of \(templates.joined(separator: ", "))")
        }
    }

    /// Reads `{"prompt": "..."}` lines; errors name the file and line.
    public static func readPrompts(_ path: String) throws -> [String] { try readPromptLines(path).map(\.text) }

    /// The prompts with their line numbers.
    static func readPromptLines(_ path: String) throws -> [(line: Int, text: String)] {
        try JSONLines.read(path).map { line, value in
            guard let p = value["prompt"]?.string else {
                throw PipelineError("\(path):\(line): expected {\"prompt\": \"...\"}")
            }
            return (line, p)
        }
    }

    /// One output line (field order fixed, so files compare byte for byte).
    public static func line(_ r: GenerationResult) -> String {
        "{\"prompt_index\": \(r.promptIndex), \"sample_index\": \(r.sampleIndex), \"text\": \(JSONLines.quote(r.text)), "
            + "\"token_ids\": [\(r.tokens.map(String.init).joined(separator: ", "))], "
            + "\"logprob\": \(JSONLines.number(r.logprob)), \"finish_reason\": \"\(r.finishReason)\"}"
    }

    public static func run(_ o: BatchGenerateOptions, cluster: Cluster, logger: Logger) throws {
        guard o.samples >= 1 else { throw PipelineError("--samples must be at least 1") }
        guard o.batchSize >= 1 else { throw PipelineError("--batch-size must be at least 1") }
        let loaded = try cluster.load(o.model, precision: o.precision)
        let tokenizer = try ModelCommands.requireTokenizer(loaded)
        let template = try template(named: o.template, tokenizer: tokenizer)
        let lines = try readPromptLines(o.prompts), texts = lines.map(\.text)
        let encoder = PromptEncoder(tokenizer: tokenizer, template: template, thought: o.thought)
        let sampling = encoder.stops(o.sampling)
        let ids = texts.map(encoder.encode)
        let context = loaded.model.config.maxPositions
        for (k, p) in ids.enumerated() {
            if p.isEmpty { throw PipelineError("\(o.prompts):\(lines[k].line): the prompt is empty (no tokens once encoded)") }
            if p.count >= context && !sampling.truncatePrompts {
                throw PipelineError("\(o.prompts):\(lines[k].line): the prompt has \(p.count) tokens; the model's context is \(context) (--truncate-prompts keeps its last tokens)")
            }
        }
        let requests = ids.enumerated().flatMap { i, p in (0..<o.samples).map { GenerationRequest(promptIndex: i, sampleIndex: $0, prompt: p) } }
        logger.info("generate: \(texts.count) prompts x \(o.samples) samples on \(cluster.size) rank(s), batch \(o.batchSize), template \(template?.name ?? "none (text as is)")")
        let progress = Progress("generate", total: requests.count, logger: logger)
        let start = Date()
        let local = Generator(model: loaded.model, tokenizer: tokenizer, batchSize: o.batchSize)
        let results = try cluster.generate(requests, params: sampling, batchSize: o.batchSize,
                                           chunkSize: o.chunkSize ?? o.batchSize, local: local) { _ in progress.advance() }
        let seconds = Date().timeIntervalSince(start)
        let tokens = results.reduce(0) { $0 + $1.tokens.count }
        logger.info("generate: \(tokens) tokens in \(String(format: "%.1f", seconds)) s (\(String(format: "%.1f", Double(tokens) / seconds)) tokens/s)")
        let text = results.map(line).joined(separator: "\n") + "\n"
        try AtomicFile.write(Data(text.utf8), to: URL(fileURLWithPath: o.output))
    }
}
