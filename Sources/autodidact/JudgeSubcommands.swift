import ArgumentParser
import Cluster
import Foundation
import Generation
import Pipeline

struct JudgePairs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "judge-pairs",
        abstract: "Write known-label judge pairs from the built-in arithmetic task: a worked solution (chosen) against the same solution with one arithmetic slip (rejected).")
    @OptionGroup var common: CommonOptions
    @Option(help: "Pairs to write.") var count = 200
    @Option(help: "Seed of the task and of the slips.") var seed: UInt64 = 0
    @Option(help: "Where to write the JSON Lines ({\"id\", \"prompt\", \"chosen\", \"rejected\"}).") var output: String

    func run() throws {
        _ = common.setUp()
        try runReportingErrors {
            try ArithmeticJudgePairs.write(count: count, seed: seed, to: output)
        }
    }
}

struct JudgeAccuracyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "judge-accuracy",
        abstract: "Judge pairs with known labels pairwise in both orders and print the judge's accuracy as one JSON line.")
    @OptionGroup var common: CommonOptions
    @Option(help: "The judging model: a Hugging Face model directory or a .gguf file.") var model: String
    @Option(help: "JSON Lines of {\"prompt\", \"chosen\", \"rejected\"}, chosen being the better response.") var pairs: String
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
            o.limit = limit; o.batchSize = batchSize; o.template = template; o.judgeTemplate = judgeTemplate; o.output = output
            o.sampling.maxNewTokens = maxNewTokens; o.sampling.temperature = temperature; o.sampling.seed = seed
            try o.sampling.validate()
            try Cluster.run(logger: logger) { cluster in
                let report = try Pipeline.JudgeAccuracyCommand.run(o, cluster: cluster, logger: logger)
                print(report.json())
            }
        }
    }
}
