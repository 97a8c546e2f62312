import Alignment
import Cluster
import Foundation
import Generation
import Logging
import Model

/// `autodidact judge-accuracy`: a model as a pairwise judge of pairs whose better response is known.
public enum JudgeAccuracyCommand {
    public struct Options: Sendable {
        public var model: String
        /// One or more labelled pair files, each reported on its own.
        public var pairs: [String]
        public var limit: Int?
        public var batchSize = 16
        public var template = "auto"
        public var judgeTemplate: String?
        public var output: String?
        /// Verdicts read from probabilities (logprob, optionally after reasoning) or parsed from text.
        public var mode = JudgeMode.logprob
        public var reasoning = false
        /// How a GGUF judge's matrices are held (quantized: in their blocks).
        public var precision = Precision.quantized
        public var tieMargin = 0.0
        public var sampling: SamplingParameters
        public init(model: String, pairs: [String]) {
            self.model = model; self.pairs = pairs
            sampling = SamplingParameters()
            sampling.temperature = 0; sampling.maxNewTokens = 256; sampling.truncatePrompts = true
        }
    }

    /// One set's report and the seconds its judging took.
    public struct SetReport: Sendable {
        public var file: String
        public var report: JudgeAccuracy.Report
        public var seconds: Double
        public var mode: String
        /// One JSON line: the set, the mode, the report and the seconds per 100 judgments (one judgment:
        /// one pair in one order).
        public func json() -> String {
            let per100 = seconds / Double(max(1, 2 * report.pairs)) * 100
            return "{\"set\": \(JSONLines.quote(file)), \"mode\": \(JSONLines.quote(mode)), \"seconds\": \(JSONLines.number(seconds)), "
                + "\"seconds_per_100_judgments\": \(JSONLines.number(per100)), " + report.json().dropFirst()
        }
    }

    public static func run(_ o: Options, cluster: Cluster, logger: Logger) throws -> [SetReport] {
        if o.reasoning && o.mode == .generate { throw PipelineError("--reasoning applies to --mode logprob (generate mode always writes its reasoning)") }
        let sets = try o.pairs.map { file -> (String, [LabelledPair]) in
            var pairs = try ArithmeticJudgePairs.read(file)
            if let n = o.limit { pairs = Array(pairs.prefix(n)) }
            guard !pairs.isEmpty else { throw PipelineError("\(file): no pairs") }
            return (file, pairs)
        }
        guard !sets.isEmpty else { throw PipelineError("--pairs: give at least one file of labelled pairs") }
        var templates = JudgeTemplates()
        if let path = o.judgeTemplate {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw PipelineError("--judge-template: cannot read '\(path)'") }
            templates.pairwise = text
        }
        try templates.validate()
        let loaded = try cluster.load(o.model, precision: o.precision)
        let tokenizer = try ModelCommands.requireTokenizer(loaded)
        let template = try BatchGenerate.template(named: o.template, tokenizer: tokenizer)
        let service = ClusterCompletions(cluster: cluster, model: loaded.model, tokenizer: tokenizer, template: template, batchSize: o.batchSize,
                                         progress: Progress.bars("judge-accuracy", logger: logger))
        let scorer = ClusterVerdictScorer(service, chunkSize: o.batchSize)
        var reports: [SetReport] = []
        for (file, pairs) in sets {
            logger.info("judge-accuracy: \(file): \(pairs.count) pairs x 2 orders on \(cluster.size) rank(s), \(o.mode.rawValue) mode\(o.reasoning ? " with reasoning first" : "")")
            let start = Date()
            let report: JudgeAccuracy.Report
            switch o.mode {
            case .generate:
                report = try JudgeAccuracy.measure(pairs, judge: PairwiseJudge(templates: templates, params: o.sampling), service: service)
            case .logprob:
                let judge = LogprobPairwiseJudge(templates: templates, tieMargin: o.tieMargin, reasoning: o.reasoning ? ReasoningFirst(params: o.sampling) : nil)
                report = try JudgeAccuracy.measure(pairs, judge: judge, scorer: scorer, service: service)
            }
            let seconds = Date().timeIntervalSince(start)
            if let out = o.output {
                let path = sets.count == 1 ? out : out + "." + URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent + ".jsonl"
                try JudgeAccuracy.write(pairs, report, to: URL(fileURLWithPath: path))
            }
            reports.append(SetReport(file: file, report: report, seconds: seconds, mode: o.mode.rawValue + (o.reasoning ? "+reasoning" : "")))
        }
        return reports
    }
}
