/// One turn of a conversation.
public struct ChatMessage: Sendable, Equatable, Codable {
    public var role: String
    public var content: String
    public init(role: String, content: String) { self.role = role; self.content = content }
}

/// The prompt formats Autodidact renders itself (Jinja is not evaluated): ChatML (SmolLM2, Qwen),
/// Llama-3 headers, and plain text for models without a template.
public enum ChatTemplate: Sendable, Equatable {
    /// `<|im_start|>role\ncontent<|im_end|>\n`; `defaultSystem` is inserted when the conversation has no
    /// system turn, as SmolLM2's template does.
    case chatML(defaultSystem: String?)
    /// Qwen3's ChatML (no default system turn): with thinking off, the assistant's turn opens with an empty
    /// `<think>` block, as its template does for `enable_thinking=False`; with thinking on it is left open.
    case qwen3(thinking: Bool)
    /// `<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>` after `<|begin_of_text|>`.
    case llama3
    /// Turns joined by blank lines; the assistant's turn is left open.
    case plain

    /// Picks the format a model's Jinja template implements (by its marker tokens).
    public static func detect(from template: String?) -> ChatTemplate {
        guard let t = template else { return .plain }
        if t.contains("<|im_start|>") && t.contains("enable_thinking") { return .qwen3(thinking: false) }
        if t.contains("<|im_start|>") { return .chatML(defaultSystem: defaultSystemPrompt(in: t)) }
        if t.contains("<|start_header_id|>") { return .llama3 }
        return .plain
    }

    /// The literal system message a ChatML template adds when the first turn is not a system turn.
    static func defaultSystemPrompt(in template: String) -> String? {
        guard template.contains("!= 'system'") || template.contains("!= \"system\"") else { return nil }
        let marker = "<|im_start|>system\n"
        guard let start = template.range(of: marker),
              let end = template.range(of: "<|im_end|>", range: start.upperBound..<template.endIndex) else { return nil }
        let text = String(template[start.upperBound..<end.lowerBound])
        // Only a literal string: anything with template syntax inside is not a fixed default.
        if text.contains("{{") || text.contains("{%") || text.contains("'") && text.contains("+") { return nil }
        return text
    }

    /// The prompt text for `messages`, ending with the opening of the assistant's turn when
    /// `addGenerationPrompt` is set.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var out = ""
        switch self {
        case .chatML(let defaultSystem):
            if let sys = defaultSystem, messages.first?.role != "system" {
                out += "<|im_start|>system\n\(sys)<|im_end|>\n"
            }
            for m in messages { out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        case .qwen3(let thinking):
            for m in messages { out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" + (thinking ? "" : "<think>\n\n</think>\n\n") }
        case .llama3:
            out += "<|begin_of_text|>"
            for m in messages { out += "<|start_header_id|>\(m.role)<|end_header_id|>\n\n\(m.content)<|eot_id|>" }
            if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        case .plain:
            out = messages.map(\.content).joined(separator: "\n\n")
            if addGenerationPrompt && !out.isEmpty { out += "\n\n" }
        }
        return out
    }

    /// A short name for logs.
    public var name: String {
        switch self {
        case .chatML(let s): return s == nil ? "chatml" : "chatml (with its default system turn)"
        case .qwen3(let thinking): return thinking ? "qwen3 (thinking)" : "qwen3 (thinking off)"
        case .llama3: return "llama3"
        case .plain: return "plain"
        }
    }

    /// The system turn a ChatML template adds by default, if any.
    public var defaultSystem: String? {
        if case .chatML(let s) = self { return s }
        return nil
    }

    /// Strings that end the assistant's turn in this format.
    public var stopStrings: [String] {
        switch self {
        case .chatML, .qwen3: return ["<|im_end|>"]
        case .llama3: return ["<|eot_id|>"]
        case .plain: return []
        }
    }
}
