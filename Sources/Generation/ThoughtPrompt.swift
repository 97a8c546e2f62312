/// Thought Preference Optimization's generic thought prompt: the model writes its thoughts after
/// "Here is my thought process:" and its answer after "Here is my response:"; a judge sees only the answer.
public enum ThoughtPrompt {
    public static let thoughtMarker = "Here is my thought process:"
    public static let responseMarker = "Here is my response:"

    /// The instruction wrapped in the thought prompt (the user turn the chat template then formats).
    public static func wrap(_ instruction: String) -> String {
        "Respond to the following user query in a comprehensive and detailed way. You can write down your "
            + "thought process before responding. Write your thoughts after \"\(thoughtMarker)\" and write your "
            + "response after \"\(responseMarker)\".\n\nUser query: \(instruction)"
    }

    /// Splits an output into its thought and response parts; nil when there is no response marker (an
    /// output TPO treats as unparseable).
    public static func split(_ output: String) -> (thought: String, response: String)? {
        guard let r = output.range(of: responseMarker, options: .backwards) else { return nil }
        var thought = String(output[..<r.lowerBound])
        if let t = thought.range(of: thoughtMarker) { thought = String(thought[t.upperBound...]) }
        let response = String(output[r.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines)
        return (thought.trimmingCharacters(in: .whitespacesAndNewlines), response)
    }
}

import Foundation
