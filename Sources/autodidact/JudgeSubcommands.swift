import ArgumentParser
import Cluster
import Foundation
import Generation
import Pipeline

struct JudgePairs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "judge-pairs",
        abstract: "Write known-label judge pairs made by rule from the built-in arithmetic task: by default a worked solution (chosen) against the same solution with one arithmetic slip (rejected); see --kind for the others.")
    @OptionGroup var common: CommonOptions
    @Option(help: "arithmetic (a slip), relevance (another question's solution), completeness (cut half-way), instruction (over a word limit), fluency (words shuffled).")
    var kind = "arithmetic"
    @Option(help: "Pairs to write.") var count = 200
    @Option(help: "Seed of the task and of the slips.") var seed: UInt64 = 0
    @Option(help: "Where to write the JSON Lines ({\"id\", \"prompt\", \"chosen\", \"rejected\"}).") var output: String

    func run() throws {
        _ = common.setUp()
        try runReportingErrors {
            guard let k = JudgeSets.Kind(rawValue: kind) else {
                throw PipelineError("--kind: '\(kind)' is not one of \(JudgeSets.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            try JudgeSets.write(k, count: count, seed: seed, to: output)
        }
    }
}

struct JudgeAccuracyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "judge-accuracy",
        abstract: "Judge pairs with known labels pairwise in both orders and print the judge's accuracy as one JSON line.")
    @OptionGroup var common: CommonOptions
    @Option(help: "The judging model: a Hugging Face model directory or a .gguf file.") var model: String
    @Option(help: "JSON Lines of {\"prompt\", \"chosen\", \"rejected\"}, chosen being the better response (repeat for several sets, each reported on its own line).")
    var pairs: [String]
    @Option(help: "logprob: read each verdict from the judge's probabilities of A and B after \"[[\"; generate: parse it from the judge's text.")
    var mode = "logprob"
    @Flag(help: "logprob mode: the judge first writes its reasoning (up to \"[[\" or --max-new-tokens), then the verdict is read.")
    var reasoning = false
    @Option(help: "\(ModelCommands.precisionHelp)") var precision = "quantized"
    @Option(help: "logprob mode: an order-corrected probability within this of 0.5 is a tie (0: only exactly 0.5).") var tieMargin = 0.0
    @Option(help: "Judge only the first N pairs.") var limit: Int?
    @Option(help: "Sequences decoded together.") var batchSize = 16
    @Option(help: "\(BatchGenerate.templateHelp)") var template = "auto"
    @Option(help: "A file replacing the pairwise judge prompt ({instruction}, {response_a}, {response_b}).") var judgeTemplate: String?
    @Option(help: "Maximum new tokens per judgment.") var maxNewTokens = 256
    @Option(help: "Sampling temperature of the judge (0: greedy).") var temperature: Float = 0
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Also write every verdict and the judge's raw text here.") var output: String?

    func run() throws {
        let logger = common.setUp()
        try runReportingErrors {
            var o = Pipeline.JudgeAccuracyCommand.Options(model: model, pairs: pairs)
            guard let m = JudgeMode(rawValue: mode) else { throw PipelineError("--mode: '\(mode)' is not logprob or generate") }
            guard (0...0.5).contains(tieMargin) else { throw PipelineError("--tie-margin: \(tieMargin) is outside 0...0.5") }
            o.mode = m; o.reasoning = reasoning; o.tieMargin = tieMargin; o.precision = try ModelCommands.precision(precision)
            o.limit = limit; o.batchSize = batchSize; o.template = template; o.judgeTemplate = judgeTemplate; o.output = output
            o.sampling.maxNewTokens = maxNewTokens; o.sampling.temperature = temperature; o.sampling.seed = seed
            try o.sampling.validate()
            try Cluster.run(logger: logger) { cluster in
                for r in try Pipeline.JudgeAccuracyCommand.run(o, cluster: cluster, logger: logger) { print(r.json()) }
            }
        }
    }
}
