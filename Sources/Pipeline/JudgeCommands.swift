import Alignment
import Foundation
import Generation
import Kernels
import Logging
import Model
import Tokenizer

/// A preference pair whose better response is known by construction (`chosen`), for measuring a judge.
public struct LabelledPair: Codable, Sendable, Equatable {
    public var id: String
    public var prompt: String
    public var chosen: String
    public var rejected: String
    public init(id: String, prompt: String, chosen: String, rejected: String) {
        self.id = id; self.prompt = prompt; self.chosen = chosen; self.rejected = rejected
    }
}

/// Known-label judge pairs from the built-in arithmetic task: a problem's worked solution against the
/// same solution with one arithmetic slip, carried through every later step to a wrong final answer.
public enum ArithmeticJudgePairs {
    struct Step { var from: Int, op: String, value: Int, to: Int }

    /// The steps of a built-in solution ("12+5=17 17-3=14\n#### 14").
    static func steps(_ solution: String) -> [Step] {
        let body = solution.components(separatedBy: "\n").first ?? ""
        return body.split(separator: " ").compactMap { token -> Step? in
            let parts = token.split(separator: "=")
            guard parts.count == 2, let to = Int(parts[1]) else { return nil }
            let lhs = String(parts[0])
            guard let opIndex = lhs.dropFirst().firstIndex(where: { "+-*".contains($0) }),
                  let a = Int(lhs[..<opIndex]), let b = Int(lhs[lhs.index(after: opIndex)...]) else { return nil }
            return Step(from: a, op: String(lhs[opIndex]), value: b, to: to)
        }
    }

    static func apply(_ a: Int, _ op: String, _ b: Int) -> Int { op == "+" ? a + b : op == "-" ? a - b : a * b }

    /// The solution written out in words, ending in "#### N" as the task's answers do.
    static func render(_ problem: Problem, _ steps: [Step]) -> String {
        let words = problem.question.split(separator: " ")
        let name = words.first.map(String.init) ?? "They"
        let item = words.count > 3 ? String(words[3]).trimmingCharacters(in: .punctuationCharacters) : "items"
        var lines = ["\(name) starts with \(steps.first?.from ?? 0) \(item)."]
        for s in steps { lines.append("\(s.from) \(s.op) \(s.value) = \(s.to).") }
        let final = steps.last?.to ?? 0
        lines.append("So \(name) has \(final) \(item) now.\n#### \(final)")
        return lines.joined(separator: " ")
    }

    /// The pair for one problem, or nil when no slip tried changes the final answer (a later "* 0")
    /// without driving a count below zero.
    public static func pair(for problem: Problem, rng: inout RandomStream) -> LabelledPair? {
        let good = steps(problem.solution)
        guard !good.isEmpty else { return nil }
        for _ in 0..<8 {
            let at = rng.int(below: good.count)
            let delta = (1 + rng.int(below: 9)) * (rng.int(below: 2) == 0 ? 1 : -1)
            var bad = good
            bad[at].to = good[at].to + delta
            for k in (at + 1)..<bad.count {
                bad[k].from = bad[k - 1].to
                bad[k].to = apply(bad[k].from, bad[k].op, bad[k].value)
            }
            // A count never goes below zero in the task's stories, and the slip must change the answer.
            guard bad.allSatisfy({ $0.to >= 0 }), bad.last!.to != good.last!.to else { continue }
            return LabelledPair(id: problem.id, prompt: problem.question, chosen: render(problem, good), rejected: render(problem, bad))
        }
        return nil
    }

    /// `count` pairs from the task's evaluation split (so they never overlap its training questions).
    public static func make(count: Int, task: ArithmeticTask = ArithmeticTask(), seed: UInt64 = 0) -> [LabelledPair] {
        var out: [LabelledPair] = []
        var index = 0
        while out.count < count {
            var rng = RandomStream(key: seed, 0x1A8E1, UInt64(index))
            if let p = pair(for: task.problem(index, split: .evaluation), rng: &rng) { out.append(p) }
            index += 1
        }
        return out
    }

    /// Writes `make(count:task:seed:)` to `path` (atomically) as JSON Lines.
    public static func write(count: Int, seed: UInt64, to path: String) throws {
        guard count >= 1 else { throw PipelineError("--count must be at least 1") }
        var task = ArithmeticTask()
        task.seed = seed
        let text = make(count: count, task: task, seed: seed).map(line).joined(separator: "\n") + "\n"
        try AtomicFile.write(Data(text.utf8), to: URL(fileURLWithPath: path))
    }

    public static func line(_ p: LabelledPair) -> String {
        "{\"id\": \(JSONLines.quote(p.id)), \"prompt\": \(JSONLines.quote(p.prompt)), \"chosen\": \(JSONLines.quote(p.chosen)), "
            + "\"rejected\": \(JSONLines.quote(p.rejected))}"
    }

    /// Reads `{"prompt", "chosen", "rejected"}` lines (optional "id"); errors name the file and line.
    public static func read(_ path: String) throws -> [LabelledPair] {
        try JSONLines.read(path).map { line, v in
            guard let p = v["prompt"]?.string, let c = v["chosen"]?.string, let r = v["rejected"]?.string else {
                throw PipelineError("\(path):\(line): expected {\"prompt\": ..., \"chosen\": ..., \"rejected\": ...} (chosen is the better response)")
            }
            return LabelledPair(id: v["id"]?.string ?? "\(line)", prompt: p, chosen: c, rejected: r)
        }
    }
}

/// Completions from the model every rank holds, sharded over the ranks like any generation. Prompts are
/// wrapped in the chat format when there is one.
public struct ClusterCompletions: CompletionService {
    let cluster: Cluster
    let generator: Generator
    let tokenizer: BPETokenizer
    let template: ChatTemplate?
    let batchSize: Int
    /// Progress of every `complete` call (one bar per call, counting completions) under this label.
    let progressLabel: String?
    let logger: Logger?

    public init(cluster: Cluster, model: LlamaModel, tokenizer: BPETokenizer, template: ChatTemplate?, batchSize: Int,
                progress label: String? = nil, logger: Logger? = nil) {
        self.cluster = cluster; self.tokenizer = tokenizer; self.template = template; self.batchSize = batchSize
        progressLabel = label; self.logger = logger
        generator = Generator(model: model, tokenizer: tokenizer, batchSize: batchSize)
    }

    public func complete(_ prompts: [String], samples: Int, params: SamplingParameters) throws -> [[String]] {
        let ids = BatchGenerate.encode(prompts, tokenizer: tokenizer, template: template, thought: false)
        let requests = ids.enumerated().flatMap { i, p in (0..<samples).map { GenerationRequest(promptIndex: i, sampleIndex: $0, prompt: p) } }
        var p = params
        if let t = template { p.stop = Array(Set(p.stop + t.stopStrings)).sorted() }
        let progress = progressLabel.flatMap { label in logger.map { Progress(label, total: requests.count, logger: $0) } }
        let results = try cluster.generate(requests, params: p, batchSize: batchSize, chunkSize: batchSize, local: generator,
                                           onFinish: { _ in progress?.advance() })
        var out = [[String]](repeating: [], count: prompts.count)
        for r in results { out[r.promptIndex].append(r.text) }
        return out
    }
}

/// How well a model judges pairs whose better response is known.
public enum JudgeAccuracy {
    /// The verdicts of every pair, chosen shown first ("forward") and second ("backward"), and what they add up to.
    public struct Report: Sendable {
        public var results: [PairwiseJudge.Result]
        public var pairs: Int { results.count }
        /// Pairs where both orders pick the known-better response (ties and unparsed count as wrong).
        public var correct: Int { results.filter { $0.verdict == .first }.count }
        public var ties: Int { results.filter { $0.verdict == .tie }.count }
        public var unparsed: Int { results.filter { $0.verdict == .unparsed }.count }
        /// Single judgments (two per pair) that pick the known-better response.
        public var singleCorrect: Int { results.filter { $0.forward == "A" }.count + results.filter { $0.backward == "B" }.count }
        /// Single judgments that name the first position (A), and all the parsed ones.
        public var firstPosition: Int { results.filter { $0.forward == "A" }.count + results.filter { $0.backward == "A" }.count }
        public var parsedSingles: Int { results.filter { $0.forward != nil }.count + results.filter { $0.backward != nil }.count }

        public var accuracy: Double { pairs == 0 ? 0 : Double(correct) / Double(pairs) }
        public var singleAccuracy: Double { pairs == 0 ? 0 : Double(singleCorrect) / Double(2 * pairs) }

        public func json() -> String {
            let ci = Statistics.wilson(successes: correct, trials: pairs)
            let single = Statistics.wilson(successes: singleCorrect, trials: 2 * pairs)
            return "{\"pairs\": \(pairs), \"accuracy\": \(JSONLines.number(accuracy)), \"ci95\": [\(JSONLines.number(ci.low)), \(JSONLines.number(ci.high))], "
                + "\"single_order_accuracy\": \(JSONLines.number(singleAccuracy)), \"single_order_ci95\": [\(JSONLines.number(single.low)), \(JSONLines.number(single.high))], "
                + "\"ties\": \(ties), \"unparsed\": \(unparsed), \"first_position_rate\": \(JSONLines.number(parsedSingles == 0 ? 0 : Double(firstPosition) / Double(parsedSingles)))}"
        }
    }

    /// Judges every pair in both orders (chosen first, then rejected first).
    public static func measure(_ pairs: [LabelledPair], judge: PairwiseJudge, service: CompletionService) throws -> Report {
        Report(results: try judge.judge(pairs.map { ($0.prompt, $0.chosen, $0.rejected) }, with: service))
    }

    public struct Options: Sendable {
        public var model: String
        public var pairs: String
        public var limit: Int?
        public var batchSize = 16
        public var template = "auto"
        public var judgeTemplate: String?
        public var output: String?
        public var sampling: SamplingParameters
        public init(model: String, pairs: String) {
            self.model = model; self.pairs = pairs
            sampling = SamplingParameters()
            sampling.temperature = 0; sampling.maxNewTokens = 256; sampling.truncatePrompts = true
        }
    }

    public static func run(_ o: Options, cluster: Cluster, logger: Logger) throws -> Report {
        var pairs = try ArithmeticJudgePairs.read(o.pairs)
        if let n = o.limit { pairs = Array(pairs.prefix(n)) }
        guard !pairs.isEmpty else { throw PipelineError("\(o.pairs): no pairs") }
        var templates = JudgeTemplates()
        if let path = o.judgeTemplate {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw PipelineError("--judge-template: cannot read '\(path)'") }
            templates.pairwise = text
        }
        try templates.validate()
        let loaded = try ModelCommands.load(o.model, logger: logger)
        let tokenizer = try ModelCommands.requireTokenizer(loaded)
        let template = try BatchGenerate.template(named: o.template, tokenizer: tokenizer)
        if cluster.size > 1 { try cluster.broadcast(.loadModel(path: o.model)) }
        logger.info("judge-accuracy: \(pairs.count) pairs x 2 orders on \(cluster.size) rank(s)")
        let service = ClusterCompletions(cluster: cluster, model: loaded.model, tokenizer: tokenizer, template: template, batchSize: o.batchSize,
                                         progress: "judge-accuracy", logger: logger)
        let report = try measure(pairs, judge: PairwiseJudge(templates: templates, params: o.sampling), service: service)
        if let out = o.output { try write(pairs, report, to: URL(fileURLWithPath: out)) }
        return report
    }

    /// One JSON line per pair: its id, the combined verdict, the verdict of each order and the raw texts.
    public static func write(_ pairs: [LabelledPair], _ report: Report, to url: URL) throws {
        let lines = zip(pairs, report.results).map { p, r in
            "{\"id\": \(JSONLines.quote(p.id)), \"verdict\": \"\(r.verdict.rawValue)\", \"forward\": \(r.forward.map(JSONLines.quote) ?? "null"), "
                + "\"backward\": \(r.backward.map(JSONLines.quote) ?? "null"), \"raw\": [\(r.raw.map(JSONLines.quote).joined(separator: ", "))]}"
        }
        try AtomicFile.write(Data((lines.joined(separator: "\n") + "\n").utf8), to: url)
    }
}
