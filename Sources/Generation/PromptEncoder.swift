import Tokenizer

/// A user turn as the model sees it: optionally wrapped in the thought prompt, then in the chat format
/// (when there is one; else the text as it is), then token ids (`BPETokenizer.encodePrompt`).
public struct PromptEncoder {
    public let tokenizer: BPETokenizer
    public let template: ChatTemplate?
    public let thought: Bool
    public init(tokenizer: BPETokenizer, template: ChatTemplate?, thought: Bool = false) {
        self.tokenizer = tokenizer; self.template = template; self.thought = thought
    }

    public func text(_ user: String) -> String {
        let content = thought ? ThoughtPrompt.wrap(user) : user
        return template?.render([ChatMessage(role: "user", content: content)]) ?? content
    }

    public func encode(_ user: String) -> [Int32] { tokenizer.encodePrompt(text(user)) }

    /// The stop strings of `params` with the chat format's end-of-turn strings added (sorted, once each).
    public func stops(_ params: SamplingParameters) -> SamplingParameters {
        var p = params
        if let t = template { p.stop = Array(Set(p.stop + t.stopStrings)).sorted() }
        return p
    }
}
