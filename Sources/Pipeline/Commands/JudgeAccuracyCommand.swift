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

    public static func run(_ o: Options, cluster: Cluster, logger: Logger) throws -> JudgeAccuracy.Report {
        var pairs = try ArithmeticJudgePairs.read(o.pairs)
        if let n = o.limit { pairs = Array(pairs.prefix(n)) }
        guard !pairs.isEmpty else { throw PipelineError("\(o.pairs): no pairs") }
        var templates = JudgeTemplates()
        if let path = o.judgeTemplate {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw PipelineError("--judge-template: cannot read '\(path)'") }
            templates.pairwise = text
        }
        try templates.validate()
        let loaded = try cluster.load(o.model)
        let tokenizer = try ModelCommands.requireTokenizer(loaded)
        let template = try BatchGenerate.template(named: o.template, tokenizer: tokenizer)
        logger.info("judge-accuracy: \(pairs.count) pairs x 2 orders on \(cluster.size) rank(s)")
        let service = ClusterCompletions(cluster: cluster, model: loaded.model, tokenizer: tokenizer, template: template, batchSize: o.batchSize,
                                         progress: Progress.bars("judge-accuracy", logger: logger))
        let report = try JudgeAccuracy.measure(pairs, judge: PairwiseJudge(templates: templates, params: o.sampling), service: service)
        if let out = o.output { try JudgeAccuracy.write(pairs, report, to: URL(fileURLWithPath: out)) }
        return report
    }
}
