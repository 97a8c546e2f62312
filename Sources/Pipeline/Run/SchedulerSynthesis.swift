import Alignment
import Foundation
import Generation
import Kernels
import Model
import Tokenizer

/// One synthesis candidate and what became of it (`synthesis.jsonl`).
struct SynthesisRecord: Codable {
    /// The document it was written from, or the example prompts it was shown.
    var document: String?
    var examples: [String]?
    var sampleIndex: Int
    var text: String
    var status: QuestionSynthesis.Status
    var question: String?
    var answer: String?
    /// Modified instructions: the source pair and the policy's answer to the modified question.
    var pairId: String?
    var response: String?
    enum CodingKeys: String, CodingKey { case document, examples, sampleIndex = "sample_index", text, status, question, answer, pairId = "pair_id", response }
}

extension Scheduler {
    /// The questions kept by the synthesize phase of `folder`'s round, or else of the latest earlier round
    /// that kept any; none when no round has.
    func synthesizedProblems(upTo folder: String) throws -> [Problem] {
        guard folder.hasPrefix("round-"), let round = Int(folder.dropFirst(6)) else { return [] }
        for r in stride(from: round, through: 1, by: -1) {
            let url = dir.appendingPathComponent(String(format: "round-%02d/questions.jsonl", r))
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            let kept = try RecordFile.read(PromptRecord.self, from: url.path)
            if kept.isEmpty { continue }
            return kept.map { Problem(id: $0.id, question: $0.prompt, solution: "", answer: $0.reference ?? "") }
        }
        return []
    }

    /// The policy writes new questions (from documents) or instructions (from example prompts); they are
    /// screened against the seeds, the questions of earlier rounds and the evaluation (and validation)
    /// questions, and the kept ones written to `questions.jsonl`.
    func synthesizePhase(_ c: SynthesizeConfig, key: String, round: Int, folder: String) throws {
        var params = SamplingParameters()
        params.temperature = c.temperature; params.topP = c.topP; params.maxNewTokens = c.maxNewTokens; params.truncatePrompts = true
        params.seed = config.seed ^ 0x5E7; params.round = UInt64(round)
        let service = completions(batchSize: c.batchSize, progress: key)
        let earlier = round > 1 ? try synthesizedProblems(upTo: String(format: "round-%02d", round - 1)).map(\.question) : []
        let held = try winRatePrompts().map(\.prompt)
        let evaluationQuestions = (evaluation + validation).map(\.question) + held
        var records: [SynthesisRecord] = [], questions: [PromptRecord] = []
        if let folderPath = c.documents {
            var synthesis = QuestionSynthesis()
            synthesis.duplicateRougeL = c.duplicateRougeL
            synthesis.contaminationNGram = c.contaminationNGram
            let names = SynthesizeConfig.files(in: folderPath)
            let documents = try names.map { name -> String in
                let url = URL(fileURLWithPath: folderPath).appendingPathComponent(name)
                guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw PipelineError("\(url.path): cannot read as UTF-8 text") }
                let words = text.split(whereSeparator: \.isWhitespace)
                return words.count > c.maxDocumentWords ? words.prefix(c.maxDocumentWords).joined(separator: " ") : text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            logger.info("\(key): \(documents.count) documents x \(c.samples) questions by the policy")
            let texts = try service.complete(documents.map { synthesis.prompt(document: $0) }, samples: c.samples, params: params).flatMap { $0 }
            for (k, s) in synthesis.screen(texts, existing: earlier, evaluation: evaluationQuestions).enumerated() {
                let document = names[k / c.samples]
                records.append(SynthesisRecord(document: document, sampleIndex: k % c.samples, text: texts[k], status: s.status, question: s.question, answer: s.answer))
                if s.status == .kept, let q = s.question, let a = s.answer {
                    questions.append(PromptRecord(id: "syn-\(round)-\(questions.count)", prompt: q, reference: a, metadata: ["document": document]))
                }
            }
        } else if c.modifiedInstructions > 0 {
            let (r, q) = try modifiedInstructionPairs(c, round: round, folder: folder, service: service, params: params, chat: config.data.template == "chat")
            records = r; questions = q
        } else if let seedSource = c.seeds {
            var synthesis = PromptSynthesis()
            synthesis.screening.duplicateRougeL = c.duplicateRougeL
            synthesis.screening.contaminationNGram = c.contaminationNGram
            let heldOut = Set(held)
            let seeds = try seedPrompts(seedSource, round: round).filter { !heldOut.contains($0) }
            if seeds.isEmpty && seedSource == "previous_pairs" {
                // Self-RIP's first round (or a round after one without pairs): nothing to write from.
                logger.info("\(key): no previous pairs to write from; nothing synthesized this round")
            } else if seeds.isEmpty {
                throw PipelineError("\(key): \(seedSource) has no prompts to write from")
            }
            let shots = min(c.shots, seeds.count)
            if shots < c.shots && !seeds.isEmpty { logger.info("\(key): only \(seeds.count) seed prompts; \(shots) examples per request") }
            let examples = seeds.isEmpty ? [] : (0..<c.requests).map { k -> [String] in
                var rng = RandomStream(key: config.seed, UInt64(round), UInt64(k), 0x5EED)
                var pool = Array(seeds.indices)
                for i in 0..<shots { pool.swapAt(i, i + rng.int(below: pool.count - i)) }
                return pool.prefix(shots).map { seeds[$0] }
            }
            if !seeds.isEmpty { logger.info("\(key): \(c.requests) requests x \(c.samples) new prompts by the policy, \(shots) examples each from \(seeds.count) seeds") }
            let texts = examples.isEmpty ? [] : try service.complete(examples.map { synthesis.prompt(examples: $0) }, samples: c.samples, params: params).flatMap { $0 }
            for (k, s) in synthesis.screen(texts, existing: seeds + earlier, evaluation: evaluationQuestions).enumerated() {
                records.append(SynthesisRecord(examples: examples[k / c.samples], sampleIndex: k % c.samples, text: texts[k], status: s.status, question: s.prompt))
                if s.status == .kept, let q = s.prompt {
                    questions.append(PromptRecord(id: "syn-\(round)-\(questions.count)", prompt: q, metadata: ["source": seedSource]))
                }
            }
        }
        try RecordFile.write(records, to: dir.appendingPathComponent("\(folder)/synthesis.jsonl").path)
        try RecordFile.write(questions, to: dir.appendingPathComponent("\(folder)/questions.jsonl").path)
        var counts: [String: Any] = ["phase": "synthesize", "candidates": records.count]
        for status in QuestionSynthesis.Status.allCases { counts[status.rawValue] = records.filter { $0.status == status }.count }
        try metrics(folder).append(counts)
        let dropped = QuestionSynthesis.Status.allCases.filter { $0 != .kept }.map { "\($0.rawValue) \(counts[$0.rawValue]!)" }
        logger.info("\(key): kept \(counts["kept"]!) of \(records.count) (\(dropped.joined(separator: ", "))); \(questions.count) questions")
    }

    /// Self-Taught Evaluator's synthetic pairs: for each of the round's labelled pairs, the policy writes a
    /// modified question and answers it (in the task's answer format); a modification is dropped when it does
    /// not parse, is under 4 words, has the original's words (`duplicate`) or its answer has the original's
    /// final answer (`answers_original`). A kept one makes the pair (question, good response, that answer), asked
    /// in both orders: `<pair>/mod-<round>/AB` (right verdict A) and `.../BA` (B). They are also written as
    /// labelled pairs to `modified_pairs.jsonl`.
    func modifiedInstructionPairs(_ c: SynthesizeConfig, round: Int, folder: String, service: ClusterCompletions, params: SamplingParameters,
                                  chat: Bool) throws -> ([SynthesisRecord], [PromptRecord]) {
        guard !labelledPairs.isEmpty else { throw PipelineError("synthesize.modified_instructions: no labelled pairs to draw from") }
        let sources = (0..<c.modifiedInstructions).map { labelledPairs[((round - 1) * c.modifiedInstructions + $0) % labelledPairs.count] }
        logger.info("synthesize: \(sources.count) modified questions and their answers by the policy")
        let texts = try service.complete(sources.map { ModifiedInstruction.prompt($0.prompt) }, samples: 1, params: params).map { $0[0] }
        let modified = texts.map { PromptSynthesis.parse($0, label: "Question") }
        let asked = modified.indices.filter { modified[$0] != nil }
        let answerPrompts = asked.map { k in chat ? modified[k]! + "\nEnd your answer with '#### <number>'." : "Q: \(modified[k]!)\nA: " }
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
        try AtomicFile.write(Data(pairs.map { ArithmeticJudgePairs.line($0) + "\n" }.joined().utf8), to: dir.appendingPathComponent("\(folder)/modified_pairs.jsonl"))
        return (records, questions)
    }

    /// The example prompts of seeded synthesis: a prompt file's prompts, or the prompts of the previous
    /// round's pairs (each once, in order).
    func seedPrompts(_ source: String, round: Int) throws -> [String] {
        guard source == "previous_pairs" else { return try RecordFile.read(PromptRecord.self, from: source).map(\.prompt) }
        let previous = String(format: "round-%02d", round - 1)
        let url = dir.appendingPathComponent("\(previous)/pairs.jsonl")
        guard round > 1, FileManager.default.fileExists(atPath: url.path) else { return [] }
        let problems = try problemsById(previous)
        var seen = Set<String>()
        return try RecordFile.read(PairRecord.self, from: url.path).compactMap { p in
            guard let id = p.promptId, let q = problems[id]?.question, seen.insert(id).inserted else { return nil }
            return q
        }
    }
}
