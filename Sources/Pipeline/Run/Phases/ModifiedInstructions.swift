import Alignment
import Cluster
import Foundation
import Generation
import Model

/// The synthesize phase of the Self-Taught Evaluator (`modified_instructions: N`).
struct ModifiedInstructions {
    /// How many of the round's labelled pairs get a modified question.
    let count: Int

    /// Self-Taught Evaluator's synthetic pairs: for each of the round's labelled pairs, the policy writes a
    /// modified question and answers it (in the task's answer format); a modification is dropped when it does
    /// not parse, is under 4 words, has the original's words (`duplicate`) or its answer has the original's
    /// final answer (`answers_original`). A kept one makes the pair (question, good response, that answer), asked
    /// in both orders: `<pair>/mod-<round>/AB` (right verdict A) and `.../BA` (B). They are also written as
    /// labelled pairs to `modified_pairs.jsonl`.
    func run(_ ctx: RunContext, _ at: PhaseStep, service: ClusterCompletions, params: SamplingParameters) throws -> ([SynthesisRecord], [PromptRecord]) {
        let labelledPairs = ctx.task.questions.labelledPairs, round = at.round
        let chat = ctx.config.data.template == .chat
        guard !labelledPairs.isEmpty else { throw PipelineError("synthesize.modified_instructions: no labelled pairs to draw from") }
        let sources = (0..<count).map { labelledPairs[((round - 1) * count + $0) % labelledPairs.count] }
        ctx.logger.info("synthesize: \(sources.count) modified questions and their answers by the policy")
        let texts = try service.complete(sources.map { ModifiedInstruction.prompt($0.prompt) }, samples: 1, params: params).map { $0[0] }
        let modified = texts.map { PromptSynthesis.parse($0, label: "Question") }
        let asked = modified.indices.filter { modified[$0] != nil }
        let answerPrompts = asked.map { k in chat ? modified[k]! + "\n" + ctx.config.data.instruction : "Q: \(modified[k]!)\nA: " }
        let answers = try service.complete(answerPrompts, samples: 1, params: params).map { $0[0] }
        var answerOf: [Int: String] = [:]
        for (k, a) in zip(asked, answers) { answerOf[k] = a }
        var records: [SynthesisRecord] = [], questions: [PromptRecord] = [], pairs: [LabelledPair] = []
        let templates = JudgeTemplates()
        for (k, source) in sources.enumerated() {
            var record = SynthesisRecord(sampleIndex: 0, text: texts[k], status: .unparsed, question: modified[k], pairId: source.id, response: answerOf[k])
            defer { records.append(record) }
            guard let q = modified[k], let response = answerOf[k] else { continue }
            record.answer = VerifiableJudge.extractAnswer(response)
            if TextOverlap.words(q).count < 4 { record.status = .tooShort; continue }
            if TextOverlap.words(q) == TextOverlap.words(source.prompt) { record.status = .duplicate; continue }
            if let a = record.answer, a == VerifiableJudge.extractAnswer(source.chosen) { record.status = .answersOriginal; continue }
            record.status = .kept
            let id = "\(source.id)/mod-\(round)"
            pairs.append(LabelledPair(id: id, prompt: source.prompt, chosen: source.chosen, rejected: response))
            questions.append(PromptRecord(id: "\(id)/AB", prompt: templates.fillPairwise(instruction: source.prompt, a: source.chosen, b: response), reference: "A"))
            questions.append(PromptRecord(id: "\(id)/BA", prompt: templates.fillPairwise(instruction: source.prompt, a: response, b: source.chosen), reference: "B"))
        }
        try AtomicFile.write(Data(pairs.map { ArithmeticJudgePairs.line($0) + "\n" }.joined().utf8), to: at.folder.url(.modifiedPairs))
        return (records, questions)
    }
}
