import Alignment
import Cluster
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

/// The policy writes new questions (from documents) or instructions (from example prompts), or (Self-Taught
/// Evaluator) modified questions of labelled pairs; they are screened against the seeds, the questions of
/// earlier rounds and the evaluation (and validation) questions, and the kept ones written to `questions.jsonl`.
struct SynthesizePhase: Phase {
    let config: SynthesizeConfig

    /// The policy writes new questions (from documents) or instructions (from example prompts); they are
    /// screened against the seeds, the questions of earlier rounds and the evaluation (and validation)
    /// questions, and the kept ones written to `questions.jsonl`.
    func run(_ ctx: RunContext, _ at: PhaseStep) throws {
        let c = config, key = at.key, round = at.round
        var params = c.sampling
        params.seed = StreamTag.synthesisSampling.seed(ctx.config.seed); params.round = UInt64(round)
        let journal = at.folder.journal(.partialSynthesis, key: key)
        let service = ctx.completions(batchSize: c.batchSize, progress: key, journal: journal)
        let earlier = round > 1 ? try ctx.synthesizedProblems(upTo: ctx.round(round - 1)).map(\.question) : []
        let held = try ctx.winRatePrompts().map(\.prompt)
        let evaluationQuestions = (ctx.task.evaluation + ctx.task.validation).map(\.question) + held
        var records: [SynthesisRecord] = [], questions: [PromptRecord] = []
        switch c.source {
        case .documents(let folderPath):
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
            ctx.logger.info("\(key): \(documents.count) documents x \(c.samples) questions by the policy")
            let texts = try service.complete(documents.map { synthesis.prompt(document: $0) }, samples: c.samples, params: params).flatMap { $0 }
            for (k, s) in synthesis.screen(texts, existing: earlier, evaluation: evaluationQuestions).enumerated() {
                let document = names[k / c.samples]
                records.append(SynthesisRecord(document: document, sampleIndex: k % c.samples, text: texts[k], status: s.status, question: s.question, answer: s.answer))
                if s.status == .kept, let q = s.question, let a = s.answer {
                    questions.append(PromptRecord(id: "syn-\(round)-\(questions.count)", prompt: q, reference: a, metadata: ["document": document]))
                }
            }
        case .modifiedInstructions(let count):
            (records, questions) = try ModifiedInstructions(count: count).run(ctx, at, service: service, params: params)
        case .seedFile, .previousPairs:
            var synthesis = PromptSynthesis()
            synthesis.screening.duplicateRougeL = c.duplicateRougeL
            synthesis.screening.contaminationNGram = c.contaminationNGram
            let heldOut = Set(held)
            let seeds = try seedPrompts(ctx, round: round).filter { !heldOut.contains($0) }
            if seeds.isEmpty && c.source == .previousPairs {
                // Self-RIP's first round (or a round after one without pairs): nothing to write from.
                ctx.logger.info("\(key): no previous pairs to write from; nothing synthesized this round")
            } else if seeds.isEmpty {
                throw PipelineError("\(key): \(sourceName) has no prompts to write from")
            }
            let shots = min(c.shots, seeds.count)
            if shots < c.shots && !seeds.isEmpty { ctx.logger.info("\(key): only \(seeds.count) seed prompts; \(shots) examples per request") }
            let examples = seeds.isEmpty ? [] : (0..<c.requests).map { k -> [String] in
                var rng = RandomStream(key: ctx.config.seed, UInt64(round), UInt64(k), StreamTag.synthesisShots.rawValue)
                var pool = Array(seeds.indices)
                for i in 0..<shots { pool.swapAt(i, i + rng.int(below: pool.count - i)) }
                return pool.prefix(shots).map { seeds[$0] }
            }
            if !seeds.isEmpty { ctx.logger.info("\(key): \(c.requests) requests x \(c.samples) new prompts by the policy, \(shots) examples each from \(seeds.count) seeds") }
            let texts = examples.isEmpty ? [] : try service.complete(examples.map { synthesis.prompt(examples: $0) }, samples: c.samples, params: params).flatMap { $0 }
            for (k, s) in synthesis.screen(texts, existing: seeds + earlier, evaluation: evaluationQuestions).enumerated() {
                records.append(SynthesisRecord(examples: examples[k / c.samples], sampleIndex: k % c.samples, text: texts[k], status: s.status, question: s.prompt))
                if s.status == .kept, let q = s.prompt {
                    questions.append(PromptRecord(id: "syn-\(round)-\(questions.count)", prompt: q, metadata: ["source": sourceName]))
                }
            }
        }
        try at.folder.write(records, as: .synthesis)
        try at.folder.write(questions, as: .questions)
        journal.remove()
        var counts: [String: Any] = ["phase": "synthesize", "candidates": records.count]
        for status in QuestionSynthesis.Status.allCases { counts[status.rawValue] = records.filter { $0.status == status }.count }
        try ctx.metrics(at.folder).append(counts)
        let dropped = QuestionSynthesis.Status.allCases.filter { $0 != .kept }.map { "\($0.rawValue) \(counts[$0.rawValue]!)" }
        ctx.logger.info("\(key): kept \(counts["kept"]!) of \(records.count) (\(dropped.joined(separator: ", "))); \(questions.count) questions")
    }

    /// The seed source as the config names it (a prompt file's path, or previous_pairs).
    var sourceName: String {
        if case .seedFile(let f) = config.source { return f }
        return "previous_pairs"
    }

    /// The example prompts of seeded synthesis: a prompt file's prompts, or the prompts of the previous
    /// round's pairs (each once, in order).
    func seedPrompts(_ ctx: RunContext, round: Int) throws -> [String] {
        if case .seedFile(let file) = config.source { return try RecordFile.read(PromptRecord.self, from: file).map(\.prompt) }
        let previous = ctx.round(round - 1)
        guard round > 1, previous.exists(.pairs) else { return [] }
        let problems = try ctx.problemsById(previous)
        var seen = Set<String>()
        return try previous.read(.pairs).compactMap { p in
            guard let id = p.promptId, let q = problems[id]?.question, seen.insert(id).inserted else { return nil }
            return q
        }
    }
}
