import Alignment
import ArgumentParser
import Cluster
import Distributed
import Foundation
import Generation
import Kernels
import Logging
import Model
import Pipeline

/// The `autodidact` executable: argument parsing only; the work lives in the Pipeline module.
struct Autodidact: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autodidact",
        abstract: "Iterative self-improvement of language models: generate, judge, build preference pairs, train, evaluate.",
        subcommands: [Run.self, Validate.self, Pretrain.self, Logprobs.self, Generate.self, Tokenize.self, Convert.self, PreferenceLoss.self,
                      PreferenceTrain.self, Compare.self, Status.self, Report.self, JudgePairs.self, JudgeAccuracyCommand.self, MPICheck.self])
}

struct CommonOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error (default: $AUTODIDACT_LOG_LEVEL or info).")
    var logLevel: String?
    @Option(help: "Worker threads for numeric kernels (default: $AUTODIDACT_THREADS or the CPUs this process may use).")
    var threads: Int?

    func setUp() -> Logger {
        Logs.bootstrap(level: logLevel)
        if let t = threads { Parallel.threads = t }
        return Logs.logger()
    }
}

/// Runs `body`, turning a thrown error into "error: ..." on stderr and exit status 1.
func runReportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let e as ExitCode { throw e } catch let stopped as Preemption.Stopped {
        FileHandle.standardError.write("autodidact: \(stopped)\n".data(using: .utf8)!)
        throw ExitCode(Preemption.exitStatus)
    } catch {
        FileHandle.standardError.write("error: \(error)\n".data(using: .utf8)!)
        throw ExitCode.failure
    }
}

/// Loss settings from the command line, checked by the same rule as the run config's.
func lossSettings(beta: Double, alpha: Double, gamma: Double) throws -> LossSettings {
    let s = LossSettings(beta: beta, alpha: alpha, gamma: gamma)
    if let (key, message) = s.problem() { throw ValidationError("--\(key) \(message)") }
    return s
}

extension PreferenceLossKind: ExpressibleByArgument {}
extension LearningRateSchedule.Kind: ExpressibleByArgument {}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Carry out a run described by a YAML config: initial phases, rounds, control; --resume continues a killed run.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The run's YAML configuration.") var config: String
    @Argument(help: "Overrides as key.path=value (e.g. schedule.rounds.count=1).") var overrides: [String] = []
    @Flag(help: "Continue the run in run.output_dir from its last completed unit of work.") var resume = false
    @Flag(help: "With --resume: continue even though the configuration changed.") var force = false
    @Option(help: "Run the whole schedule once per seed (run.seed, run.seed + 1, ...) into run.output_dir/seed-S, then write a table across seeds (sets run.seeds).")
    var seeds: Int?

    func run() throws {
        let logger = common.setUp()
        try runReportingErrors {
            let cfg = try RunConfig.load(config, overrides: overrides + (seeds.map { ["run.seeds=\($0)"] } ?? []))
            Preemption.install()
            try Cluster.run(logger: logger) { cluster in
                if cfg.seeds > 1 {
                    print(try SeedSweep(config: cfg).run(cluster: cluster, resume: resume, force: force, logger: logger))
                    return
                }
                let scheduler = try Scheduler(config: cfg, cluster: cluster, resume: resume, force: force, logger: logger)
                switch try scheduler.run() {
                case .alreadyFinished(let summary):
                    print("\(cfg.outputDir): this run has already finished; nothing to do")
                    if let summary { print(summary, terminator: "") }
                case .finished(let table): print(table)
                }
            }
        }
    }
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two arms seed by seed: each seed's final model in A against B's of the same seed on the same test problems (exact McNemar).")
    @OptionGroup var common: CommonOptions
    @Argument(help: "A run folder, or a folder of seed-S run folders (run --seeds).") var a: String
    @Argument(help: "The other arm, likewise.") var b: String

    func run() throws {
        _ = common.setUp()
        try runReportingErrors { print(try SeedSweep.compare(URL(fileURLWithPath: a), URL(fileURLWithPath: b))) }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Where a run is and how it stands: running, finished or stopped (and why), its unit of work, progress and time left, its figures so far.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "A run folder (or a folder of seed-S run folders: each is shown).") var dir: String

    func run() throws {
        _ = common.setUp()
        try runReportingErrors {
            let url = URL(fileURLWithPath: dir)
            let seeds = (try? FileManager.default.contentsOfDirectory(atPath: dir))?.filter { $0.hasPrefix("seed-") }.sorted() ?? []
            let folders = FileManager.default.fileExists(atPath: url.appendingPathComponent(RunState.fileName).path) || seeds.isEmpty
                ? [url] : seeds.map { url.appendingPathComponent($0) }
            print(try folders.map { try RunStatus(dir: $0).text() }.joined(separator: "\n\n"))
        }
    }
}

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write report.html: one self-contained page of a run's figures, plots and examples (several runs side by side); also while a run goes on.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "Run folders (or folders of seed-S run folders).") var dirs: [String]
    @Option(help: "Where to write it (default: report.html in the run folder when there is one, else in the current directory).") var output: String?

    func run() throws {
        _ = common.setUp()
        try runReportingErrors {
            print(try RunReport.write(dirs.map { URL(fileURLWithPath: $0) }, to: output.map { URL(fileURLWithPath: $0) }).path)
        }
    }
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a run configuration (every key, type, range and file) without running it.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The run's YAML configuration.") var config: String
    @Argument(help: "Overrides as key.path=value.") var overrides: [String] = []

    func run() throws {
        _ = common.setUp()
        try runReportingErrors {
            let cfg = try RunConfig.load(config, overrides: overrides)
            _ = try cfg.checkData()
            print("\(config): valid (\(cfg.initial.count) initial phase(s), \(cfg.rounds.count) round(s)\(cfg.control == nil ? "" : ", control"))")
        }
    }
}

struct Pretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a small model from scratch on text (built-in pages by default), then sample from it.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Model shape: micro, tiny, nano or smol.") var shape = "tiny"
    @Option(help: "Optimizer steps.") var steps = 300
    @Option(help: "Sequences per step.") var batch = 8
    @Option(help: "Tokens per sequence.") var seq = 128
    @Option(help: "Peak learning rate (warm-up, then cosine decay to 10%).") var lr: Float = 3e-3
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "A UTF-8 text file to train on instead of the built-in pages.") var text: String?
    @Option(help: "Save the trained model here (Hugging Face layout).") var output: String?
    @Option(help: "1: ZeRO-1, the AdamW moments sharded over the ranks; 0: replicated.") var zero = 0

    func run() throws {
        let logger = common.setUp()
        try runReportingErrors {
            var o = PretrainOptions()
            o.shape = shape; o.steps = steps; o.batch = batch; o.sequence = seq; o.learningRate = lr
            o.seed = seed; o.textFile = text; o.output = output; o.zero = zero
            guard zero == 0 || zero == 1 else { throw ValidationError("--zero must be 0 or 1 (got \(zero))") }
            try Cluster.run(logger: logger) { cluster in
                let result = try Pipeline.Pretrain.run(o, cluster: cluster, logger: logger)
                print(String(format: "loss: %.3f -> %.3f", result.firstLoss, result.finalLoss))
                for s in result.samples { print("---\n\(s)") }
            }
        }
    }
}

struct Logprobs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per-token log-probabilities: one JSON line per input line ({\"ids\": [...]} or {\"text\": \"...\"}).")
    @OptionGroup var common: CommonOptions
    @Option(help: "A Hugging Face model directory or a .gguf file.") var model: String
    @Option(help: "JSON Lines input.") var input: String
    @Option(help: "\(ModelCommands.precisionHelp)") var precision = "quantized"

    func run() throws {
        let logger = common.setUp()
        try runReportingErrors {
            for line in try ModelCommands.logprobs(model: model, precision: try ModelCommands.precision(precision), input: input, logger: logger) { print(line) }
        }
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Complete one prompt (--prompt), or sample every prompt of a JSON Lines file (--prompts ... --output).")
    @OptionGroup var common: CommonOptions
    @Option(help: "A Hugging Face model directory or a .gguf file.") var model: String
    @Option(help: "One prompt; prints its completion.") var prompt: String?
    @Flag(help: "With --prompt: wrap it as a user turn in the model's chat format.") var chat = false
    @Flag(help: "With --prompt: print {\"ids\": [...], \"text\": \"...\"}.") var json = false
    @Option(help: "JSON Lines of {\"prompt\": \"...\"}; needs --output.") var prompts: String?
    @Option(help: "With --prompts: where to write one JSON line per prompt and sample.") var output: String?
    @Option(help: "With --prompts: samples per prompt.") var samples = 1
    @Option(help: "With --prompts: sequences decoded together.") var batchSize = 16
    @Option(help: "With --prompts under mpirun: requests per work chunk (default: the batch size).") var chunkSize: Int?
    @Option(help: "With --prompts: \(BatchGenerate.templateHelp)")
    var template = "auto"
    @Flag(help: "With --prompts: wrap each prompt in Thought Preference Optimization's thought prompt.") var thought = false
    @Option(help: "Maximum new tokens.") var maxNewTokens = 128
    @Option(help: "Sampling temperature (0: greedy).") var temperature: Float = 0
    @Option(help: "Nucleus sampling threshold (1: off).") var topP: Float = 1
    @Option(help: "Keep the k most likely tokens (0: off).") var topK = 0
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Round number (part of every sample's random stream).") var round: UInt64 = 0
    @Option(help: "Stop when the text contains this string (repeatable).") var stop: [String] = []
    @Flag(help: "Cut prompts longer than the context to their last tokens instead of refusing them.") var truncatePrompts = false
    @Option(help: "\(ModelCommands.precisionHelp)") var precision = "quantized"

    func run() throws {
        let logger = common.setUp()
        try runReportingErrors {
            var sampling = SamplingParameters()
            sampling.temperature = temperature; sampling.topP = topP; sampling.topK = topK
            sampling.maxNewTokens = maxNewTokens; sampling.seed = seed; sampling.round = round; sampling.stop = stop
            sampling.truncatePrompts = truncatePrompts
            try sampling.validate()
            switch (prompt, prompts) {
            case (let text?, nil):
                var o = ModelCommands.GenerateOptions(prompt: text)
                o.chat = chat; o.sampling = sampling; o.precision = try ModelCommands.precision(precision)
                let (ids, out) = try ModelCommands.generate(model: model, o, logger: logger)
                if json {
                    print("{\"ids\": [\(ids.map(String.init).joined(separator: ", "))], \"text\": \(JSONLines.quote(out))}")
                } else {
                    print(out)
                }
            case (nil, let file?):
                guard let output else { throw PipelineError("--prompts needs --output") }
                var o = BatchGenerateOptions(model: model, prompts: file, output: output)
                o.samples = samples; o.batchSize = batchSize; o.template = template; o.thought = thought
                o.sampling = sampling; o.chunkSize = chunkSize; o.precision = try ModelCommands.precision(precision)
                try Cluster.run(logger: logger) { cluster in try BatchGenerate.run(o, cluster: cluster, logger: logger) }
            default:
                throw PipelineError("give either --prompt TEXT or --prompts FILE.jsonl --output OUT.jsonl")
            }
        }
    }
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the token ids of a text as a JSON array (no BOS/EOS added).")
    @OptionGroup var common: CommonOptions
    @Option(help: "A Hugging Face model directory or a .gguf file.") var model: String
    @Option(help: "The text to tokenize.") var text: String

    func run() throws {
        let logger = common.setUp()
        try runReportingErrors { print(try ModelCommands.tokenize(model: model, text: text, logger: logger)) }
    }
}

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a Hugging Face directory (config.json, model.safetensors, tokenizer.json) from a model, e.g. a GGUF file.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The model to read (a .gguf file or a Hugging Face directory).") var source: String
    @Argument(help: "The directory to write.") var output: String

    func run() throws {
        let logger = common.setUp()
        try runReportingErrors { try ModelCommands.convert(model: source, output: output, logger: logger) }
    }
}

struct PreferenceLoss: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preference-loss",
        abstract: "Per-pair summed completion log-probs under policy and reference, and the loss (one JSON line per pair).")
    @OptionGroup var common: CommonOptions
    @Option(help: "The policy model.") var policy: String
    @Option(help: "The reference model (else the pairs' ref_chosen_logps/ref_rejected_logps).") var reference: String?
    @Option(help: "JSON Lines of pairs: prompt_ids/chosen_ids/rejected_ids or prompt/chosen/rejected, optional weight.") var pairs: String
    @Option(help: "dpo, irpo, scpo, ipo or simpo.") var loss: PreferenceLossKind = .dpo
    @Option(help: "beta") var beta: Double = 0.1
    @Option(help: "alpha (NLL weight of irpo/scpo)") var alpha: Double = 1
    @Option(help: "gamma (simpo margin)") var gamma: Double = 0.5

    func run() throws {
        let logger = common.setUp()
        try runReportingErrors {
            for line in try PreferenceCommands.loss(policy: policy, reference: reference, pairsFile: pairs, loss: loss,
                                                    settings: try lossSettings(beta: beta, alpha: alpha, gamma: gamma), logger: logger) {
                print(line)
            }
        }
    }
}

struct PreferenceTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preference-train",
        abstract: "Train a model on preference pairs (DPO family); reference log-probs are computed once from the starting model when the file lacks them.")
    @OptionGroup var common: CommonOptions
    @Option(help: "The model to train.") var model: String
    @Option(help: "JSON Lines of pairs.") var pairs: String
    @Option(help: "dpo, irpo, scpo, ipo or simpo.") var loss: PreferenceLossKind = .dpo
    @Option(help: "beta") var beta: Double = 0.1
    @Option(help: "alpha") var alpha: Double = 1
    @Option(help: "gamma") var gamma: Double = 0.5
    @Option(help: "Peak learning rate.") var lr: Float = 1e-5
    @Option(help: "constant, linear or cosine (after warm-up).") var schedule: LearningRateSchedule.Kind = .cosine
    @Option(help: "Warm-up steps.") var warmup = 0
    @Option(help: "Pairs per optimizer step (global, over all ranks).") var batchSize = 8
    @Option(help: "Passes over the pairs.") var epochs = 1
    @Option(help: "Most tokens per micro-batch.") var microBatchTokens = 4096
    @Option(help: "Global gradient-norm clip (0: off).") var maxGradNorm: Float = 1
    @Option(help: "Weight decay.") var weightDecay: Float = 0
    @Option(help: "Write the per-step metrics here too.") var metrics: String?
    @Option(help: "Save the trained model here (with LoRA: the adapters in PEFT's layout; `convert` merges them).") var output: String?
    @Option(help: "Train LoRA adapters of this rank instead of every weight (the base frozen).") var loraRank: Int?
    @Option(help: "LoRA alpha (scale alpha / rank; default 2 x rank).") var loraAlpha: Float?
    @Option(help: "Projections the adapters sit on (default: q,k,v,o,gate,up,down).") var loraTargets: String?
    @Option(help: "1: ZeRO-1, the AdamW moments sharded over the ranks; 0: replicated.") var zero = 0

    func run() throws {
        let logger = common.setUp()
        try runReportingErrors {
            guard zero == 0 || zero == 1 else { throw ValidationError("--zero must be 0 or 1 (got \(zero))") }
            if loraRank == nil && (loraAlpha != nil || loraTargets != nil) { throw ValidationError("--lora-alpha and --lora-targets need --lora-rank") }
            let lora = try loraRank.map { try LoRAConfig(rank: $0, alpha: loraAlpha, targets: try loraTargets.map { try LoRAConfig.targets($0) } ?? LoRATarget.allCases) }
            let setup = PreferenceSetup(loss: loss, settings: try lossSettings(beta: beta, alpha: alpha, gamma: gamma),
                                        adamW: AdamWSettings(learningRate: lr, weightDecay: weightDecay),
                                        maxGradNorm: maxGradNorm > 0 ? maxGradNorm : nil, microBatchTokens: microBatchTokens,
                                        scope: TrainingScope(lora: lora, zero: zero))
            var o = PreferenceCommands.TrainOptions(model: model, pairs: pairs, setup: setup)
            o.output = output; o.metrics = metrics; o.epochs = epochs; o.batchSize = batchSize; o.schedule = schedule; o.warmupSteps = warmup
            try Cluster.run(logger: logger) { cluster in _ = try PreferenceCommands.train(o, cluster: cluster, logger: logger) }
        }
    }
}

struct MPICheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpi-check",
        abstract: "Exercise every communicator operation across the ranks (run under mpirun); exit 0 when all agree.")
    @OptionGroup var common: CommonOptions

    func run() throws {
        let logger = common.setUp()
        try runReportingErrors {
            let comm = try Communicators.make()
            let failures = try CommunicatorCheck.run(comm)
            var flag = [Double(failures.count)]
            try comm.allReduce(&flag, op: .max)
            for f in failures { FileHandle.standardError.write("\(f)\n".data(using: .utf8)!) }
            if comm.rank == 0 { print("mpi-check: \(comm.size) rank(s), \(flag[0] == 0 ? "all operations agree" : "FAILED")") }
            logger.debug("rank \(comm.rank) done")
            if flag[0] != 0 { throw ExitCode.failure }
        }
    }
}

Autodidact.main()
