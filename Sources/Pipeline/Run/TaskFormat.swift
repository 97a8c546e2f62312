import Alignment
import Foundation
import Generation
import Tokenizer

/// The run's questions and how they are shown to a model and read back: the prompt (in the "qa" or the
/// chat format, with the thought template or not), the part of an output that answers, and its correctness.
struct TaskFormat {
    let data: DataConfig
    let questions: TaskData
    let tokenizer: BPETokenizer
    let eos: Int32

    var train: [Problem] { questions.train }
    var validation: [Problem] { questions.validation }
    var evaluation: [Problem] { questions.evaluation }

    /// The training questions of a round: a slice of the training split that moves on each round (of the
    /// problems after the first `sft_size` when there are any).
    func questions(round: Int, count: Int) -> [Problem] {
        let pool = data.sftSize < train.count && !data.isJudgePairs ? Array(train[data.sftSize...]) : train
        return (0..<count).map { pool[((round - 1) * count + $0) % pool.count] }
    }

    /// The question as shown to a model with `tokenizer` in the `template` format (the run's by default).
    func promptText(_ p: Problem, template: PromptTemplate? = nil, tokenizer t: BPETokenizer? = nil) -> String {
        let judging = data.isJudgePairs
        switch template ?? data.template {
        case .chat:
            // A question without a reference answer (a synthesized or win-rate instruction) is shown as it is.
            let content = judging || p.answer.isEmpty ? p.question : p.question + "\n" + data.instruction
            return PromptEncoder(tokenizer: t ?? tokenizer, template: ChatTemplate.detect(from: (t ?? tokenizer).chatTemplate),
                                 thought: data.thought).text(content)
        case .qa:
            if judging { return p.question + "\n" }
            return "Q: \(data.thought ? ThoughtPrompt.wrap(p.question) : p.question)\nA: "
        }
    }

    /// Token ids of the prompt; special-token strings are parsed only in the chat format (a question's own
    /// text never becomes a control token in the "qa" format).
    func promptIds(_ p: Problem, template: PromptTemplate? = nil, tokenizer t: BPETokenizer? = nil) -> [Int32] {
        let format = template ?? data.template
        return (t ?? tokenizer).encodePrompt(promptText(p, template: format, tokenizer: t), parseSpecial: format == .chat)
    }

    /// An output as a completion to train on: its tokens and end of sequence.
    func completionIds(_ text: String) -> [Int32] { tokenizer.encode(text, parseSpecial: false) + [eos] }

    /// The part of an output that answers: all of it, or with the thought template the response after the
    /// thoughts (nil when there is none).
    func answerPart(_ text: String) -> String? {
        data.thought ? ThoughtPrompt.split(text)?.response : text
    }

    /// The answer a response gives: the final number, or for judge pairs the verdict letter.
    func extractAnswer(_ text: String) -> String? {
        guard let part = answerPart(text) else { return nil }
        return data.isJudgePairs ? JudgeParsing.verdict(part) : VerifiableJudge.extractAnswer(part)
    }

    func isCorrect(_ text: String, _ p: Problem) -> Bool {
        guard let part = answerPart(text) else { return false }
        return data.isJudgePairs ? JudgeParsing.verdict(part) == p.answer : VerifiableJudge.isCorrect(part, reference: p.answer)
    }
}
