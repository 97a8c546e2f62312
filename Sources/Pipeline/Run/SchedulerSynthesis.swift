import Alignment
import Foundation
import Generation
import Tokenizer

/// One synthesis candidate and what became of it (`synthesis.jsonl`).
struct SynthesisRecord: Codable {
    var document: String
    var sampleIndex: Int
    var text: String
    var status: QuestionSynthesis.Status
    var question: String?
    var answer: String?
    enum CodingKeys: String, CodingKey { case document, sampleIndex = "sample_index", text, status, question, answer }
}

extension Scheduler {
    /// The questions kept by the synthesize phase of `folder`'s round, or else of the latest earlier round
    /// that has them; none when no round has synthesized.
    func synthesizedProblems(upTo folder: String) throws -> [Problem] {
        guard folder.hasPrefix("round-"), let round = Int(folder.dropFirst(6)) else { return [] }
        for r in stride(from: round, through: 1, by: -1) {
            let url = dir.appendingPathComponent(String(format: "round-%02d/questions.jsonl", r))
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            return try RecordFile.read(PromptRecord.self, from: url.path).map {
                Problem(id: $0.id, question: $0.prompt, solution: "", answer: $0.reference ?? "")
            }
        }
        return []
    }

    /// The policy writes questions from each document; they are screened against the questions of earlier
    /// rounds and the evaluation (and validation) questions, and the kept ones written to `questions.jsonl`.
    func synthesizePhase(_ c: SynthesizeConfig, key: String, round: Int, folder: String) throws {
        var synthesis = QuestionSynthesis()
        synthesis.duplicateRougeL = c.duplicateRougeL
        synthesis.contaminationNGram = c.contaminationNGram
        let names = SynthesizeConfig.files(in: c.documents)
        let documents = try names.map { name -> String in
            let url = URL(fileURLWithPath: c.documents).appendingPathComponent(name)
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw PipelineError("\(url.path): cannot read as UTF-8 text") }
            let words = text.split(whereSeparator: \.isWhitespace)
            return words.count > c.maxDocumentWords ? words.prefix(c.maxDocumentWords).joined(separator: " ") : text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var params = SamplingParameters()
        params.temperature = c.temperature; params.topP = c.topP; params.maxNewTokens = c.maxNewTokens; params.truncatePrompts = true
        params.seed = config.seed ^ 0x5E7; params.round = UInt64(round)
        let template: ChatTemplate? = config.data.template == "chat" ? ChatTemplate.detect(from: tokenizer.chatTemplate) : nil
        let service = ClusterCompletions(cluster: cluster, model: model, tokenizer: tokenizer, template: template, batchSize: c.batchSize,
                                         progress: key, logger: logger)
        logger.info("\(key): \(documents.count) documents x \(c.samples) questions by the policy")
        let outputs = try service.complete(documents.map { synthesis.prompt(document: $0) }, samples: c.samples, params: params)
        let earlier = round > 1 ? try synthesizedProblems(upTo: String(format: "round-%02d", round - 1)).map(\.question) : []
        let texts = outputs.flatMap { $0 }
        let screened = synthesis.screen(texts, existing: earlier, evaluation: (evaluation + validation).map(\.question))
        var records: [SynthesisRecord] = [], questions: [PromptRecord] = []
        for (k, s) in screened.enumerated() {
            let document = names[k / c.samples]
            records.append(SynthesisRecord(document: document, sampleIndex: k % c.samples, text: texts[k], status: s.status, question: s.question, answer: s.answer))
            if s.status == .kept, let q = s.question, let a = s.answer {
                questions.append(PromptRecord(id: "syn-\(round)-\(questions.count)", prompt: q, reference: a, metadata: ["document": document]))
            }
        }
        try RecordFile.write(records, to: dir.appendingPathComponent("\(folder)/synthesis.jsonl").path)
        try RecordFile.write(questions, to: dir.appendingPathComponent("\(folder)/questions.jsonl").path)
        var counts: [String: Any] = ["phase": "synthesize", "candidates": texts.count]
        for status in QuestionSynthesis.Status.allCases {
            counts[status.rawValue] = screened.filter { $0.status == status }.count
        }
        try metrics(folder).append(counts)
        logger.info("\(key): kept \(questions.count) of \(texts.count) questions (\(counts.filter { $0.key != "phase" && $0.key != "kept" && $0.key != "candidates" }.map { "\($0.key) \($0.value)" }.sorted().joined(separator: ", ")))")
    }
}
