import Alignment
import Foundation
import Kernels
import Model

/// A run's configuration, read from YAML and checked in full before any work starts.
/// Sections: run, model, tokenizer, data, evaluation, schedule (initial phases, then rounds of phases with
/// per-round overrides, then an optional control). See configs/ for complete examples.
public struct RunConfig {
    public var file: String
    /// The configuration after command-line overrides (what `config.yaml` in the run directory holds).
    public var tree: ConfigNode
    public var name: String
    public var seed: UInt64
    public var outputDir: String
    /// Gradients of a batch are summed as over this many ranks' shards even on one process (see
    /// TrainerSetup.reductionShards): 2 makes a 1-process run and a 2-rank run train identically.
    public var reductionShards: Int
    public var model: ModelSource
    public var tokenizer: String
    public var data: DataConfig
    public var evaluation: EvaluationConfig
    public var initial: [PhaseConfig]
    public var rounds: [[PhaseConfig]]
    public var control: ControlConfig?

    public enum ModelSource: Equatable { case shape(String), path(String) }

    /// Loads `file`, applies `overrides` ("key.path=value"), and validates everything.
    public static func load(_ file: String, overrides: [String] = []) throws -> RunConfig {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw ConfigError(file: file, line: nil, key: nil, message: "cannot read")
        }
        var tree = try ConfigNode.parse(yaml: text, file: file)
        for o in overrides {
            guard let eq = o.firstIndex(of: "="), eq != o.startIndex else {
                throw ConfigError(file: "command line", line: nil, key: o, message: "an override is key.path=value")
            }
            let path = o[..<eq].split(separator: ".").map(String.init)
            tree = tree.setting(path, to: .scalar(String(o[o.index(after: eq)...]), line: 0))
        }
        return try RunConfig(tree: tree, file: file)
    }

    init(tree: ConfigNode, file: String) throws {
        self.file = file
        self.tree = tree
        let root = try ConfigReader(tree, file: file, path: "")
        let run = try root.child("run")
        name = try run.string("name", default: "run")!
        seed = UInt64(try run.int("seed", default: 0, min: 0))
        outputDir = try run.string("output_dir", default: "runs/\(name)")!
        reductionShards = try run.int("reduction_shards", default: 1, min: 1, max: 64)
        try run.finish()

        let m = try root.child("model")
        let shape = try m.string("shape", oneOf: LlamaConfigShapes.names)
        let path = try m.string("path")
        switch (shape, path) {
        case (let s?, nil): model = .shape(s)
        case (nil, let p?):
            guard FileManager.default.fileExists(atPath: p) else { throw m.error("path", "'\(p)' does not exist") }
            model = .path(p)
        case (nil, nil): throw ConfigError(file: file, line: m.line, key: "model", message: "give model.shape (to train from scratch) or model.path")
        default: throw m.error("path", "give either model.shape or model.path, not both")
        }
        try m.finish()
        let tok = try root.child("tokenizer")
        tokenizer = try tok.string("kind", default: "auto", oneOf: ["auto", "bytes", "model"])!
        if case .shape = model, tokenizer == "model" { throw tok.error("kind", "a model trained from scratch has no tokenizer of its own (use bytes)") }
        try tok.finish()
        data = try DataConfig(try root.child("data"))
        evaluation = try EvaluationConfig(try root.child("evaluation"))

        let schedule = try root.child("schedule")
        initial = try RunConfig.phases(schedule.node("initial"), reader: schedule, key: "initial", file: file)
        let rs = try schedule.child("rounds")
        let count = try rs.int("count", default: 0, min: 0, max: 100)
        let basePhases = rs.node("phases")
        var perRound: [[PhaseConfig]] = []
        let overrides = try rs.child("overrides")
        var seenOverride = Set<String>()
        // Overrides of rounds after the last (a config whose count was lowered) are checked, then unused.
        let lastOverridden = overrides.entries.compactMap { Int($0.key) }.filter { (1...100).contains($0) }.max() ?? 0
        let built = count > 0 ? max(count, lastOverridden) : 0
        for r in 1...max(built, 1) where built > 0 {
            var phasesNode = basePhases ?? .list([], line: 0)
            if overrides.has(String(r)) {
                seenOverride.insert(String(r))
                let o = try overrides.child(String(r))
                for (key, value, line) in o.entries {
                    o.used.insert(key)
                    let parts = key.split(separator: ".").map(String.init)
                    guard parts.count == 2 else { throw ConfigError(file: file, line: line, key: "schedule.rounds.overrides.\(r).\(key)", message: "an override key is phase.parameter") }
                    guard case .list(var items, let l) = phasesNode,
                          let i = items.firstIndex(where: { ($0.value(at: []).flatMap { n -> String? in if case .map(let e, _) = n { return e.first?.key } else { return nil } }) == parts[0] }) else {
                        throw ConfigError(file: file, line: line, key: "schedule.rounds.overrides.\(r).\(key)", message: "no '\(parts[0])' phase in the rounds")
                    }
                    items[i] = items[i].setting([parts[0], parts[1]], to: value)
                    phasesNode = .list(items, line: l)
                }
                try o.finish()
            }
            perRound.append(try RunConfig.phases(phasesNode, reader: rs, key: "phases", file: file, round: r))
        }
        for e in overrides.entries where !seenOverride.contains(e.key) {
            throw ConfigError(file: file, line: e.line, key: "schedule.rounds.overrides.\(e.key)", message: "not a round number (1 to 100)")
        }
        overrides.used = Set(overrides.entries.map(\.key))
        try overrides.finish()
        rounds = Array(perRound.prefix(count))
        try rs.finish()
        let c = try schedule.child("control")
        control = c.has("enabled") || !c.entries.isEmpty ? try ControlConfig(c) : nil
        let synthesizes = rounds.flatMap { $0 }.compactMap { if case .synthesize(let c) = $0 { return c } else { return nil } }
        if !data.isJudgePairs, synthesizes.contains(where: { $0.modifiedInstructions > 0 }) {
            throw ConfigError(file: file, line: schedule.line, key: "schedule.rounds.phases", message: "synthesize.modified_instructions rewrites labelled judge pairs: it needs data.task judge_pairs")
        }
        if data.isJudgePairs, synthesizes.contains(where: { $0.modifiedInstructions == 0 }) {
            throw ConfigError(file: file, line: schedule.line, key: "schedule.rounds.phases", message: "with data.task judge_pairs, synthesize takes modified_instructions only")
        }
        if case .judgePairs = data.task {
            // Judge pairs have no worked solutions to imitate.
            if initial.contains(where: { if case .sft = $0 { return true } else { return false } }) {
                throw ConfigError(file: file, line: schedule.line, key: "schedule.initial", message: "an sft phase needs worked solutions; data.task judge_pairs has none")
            }
            if control?.enabled == true { throw c.error("enabled", "the control arm is SFT on worked solutions; data.task judge_pairs has none") }
        }
        if control?.enabled == false { control = nil }
        if evaluation.winRatePrompts != nil && evaluation.winRateJudge == nil, case .shape = model {
            throw ConfigError(file: file, line: nil, key: "evaluation.win_rate_judge", message: "a model trained from scratch has no starting model to judge with; give win_rate_judge")
        }
        try schedule.finish()
        try root.finish()
    }

    static func phases(_ node: ConfigNode?, reader: ConfigReader, key: String, file: String, round: Int? = nil) throws -> [PhaseConfig] {
        guard let node else { return [] }
        guard case .list(let items, _) = node else { throw reader.error(key, "expected a list of phases") }
        return try items.map { item in
            guard case .map(let entries, let line) = item, entries.count == 1 else {
                throw ConfigError(file: file, line: item.line, key: reader.full(key), message: "each phase is one of sft, synthesize, generate, judge, pairs, train, evaluate with its settings")
            }
            let name = entries[0].key
            let where_ = round.map { "\(reader.full(key))[round \($0)].\(name)" } ?? "\(reader.full(key)).\(name)"
            let params = try ConfigReader(entries[0].value == .scalar("", line: 0) ? nil : nullToEmpty(entries[0].value), file: file, path: where_)
            let phase: PhaseConfig
            switch name {
            case "sft": phase = .sft(try SFTConfig(params))
            case "generate": phase = .generate(try GenerateConfig(params))
            case "judge": phase = .judge(try JudgeConfig(params))
            case "pairs": phase = .pairs(try PairsConfig(params))
            case "train": phase = .train(try TrainConfig(params))
            case "synthesize": phase = .synthesize(try SynthesizeConfig(params))
            case "evaluate": phase = .evaluate
            default: throw ConfigError(file: file, line: line, key: where_, message: "unknown phase (sft, synthesize, generate, judge, pairs, train, evaluate)")
            }
            try params.finish()
            return phase
        }
    }

    static func nullToEmpty(_ n: ConfigNode) -> ConfigNode? {
        if case .scalar(let s, let l) = n, s.isEmpty || s == "null" || s == "~" { return .map([], line: l) }
        return n
    }

    /// A hash of the configuration as run (resuming with a different one is refused unless forced).
    public var hash: String {
        var h: UInt64 = 0xcbf29ce484222325
        for b in tree.canonical.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        return String(h, radix: 16)
    }
}

enum LlamaConfigShapes { static var names: [String] { LlamaConfig.shapeNames } }

public enum PhaseConfig: Equatable {
    case sft(SFTConfig)
    case generate(GenerateConfig)
    case judge(JudgeConfig)
    case pairs(PairsConfig)
    case train(TrainConfig)
    case synthesize(SynthesizeConfig)
    case evaluate

    public var name: String {
        switch self {
        case .synthesize: return "synthesize"
        case .sft: return "sft"
        case .generate: return "generate"
        case .judge: return "judge"
        case .pairs: return "pairs"
        case .train: return "train"
        case .evaluate: return "evaluate"
        }
    }
}

public struct DataConfig: Equatable {
    /// judgePairs: labelled judge pairs (data/judge-pairs.jsonl layout); each pair is two questions, the
    /// pairwise judge prompt in both orders, whose answers are the letters of the better response.
    public enum Task: Equatable { case arithmetic(ArithmeticTask), file(train: String, eval: String), judgePairs(String) }
    public var task: Task
    public var trainSize: Int
    /// How many of the training problems (the first ones) lend their worked solutions to supervised
    /// training (SFT and the control); the rounds draw their questions from the rest when there is a rest,
    /// judging them by their final answers only.
    public var sftSize: Int
    public var evalSize: Int
    public var isJudgePairs: Bool { if case .judgePairs = task { return true } else { return false } }
    public var validationSize: Int
    /// How questions are shown: "qa" ("Q: ...\nA: "), "chat" (the model's chat format).
    public var template: String
    /// Thought Preference Optimization: questions are wrapped in the thought prompt (`ThoughtPrompt`); answers
    /// and judges read only the response part, and an output without one is unparseable.
    public var thought: Bool

    init(_ r: ConfigReader) throws {
        let kind = try r.string("task", default: "arithmetic", oneOf: ["arithmetic", "file", "judge_pairs"])!
        if kind == "judge_pairs" {
            let f = try r.string("pairs_file", default: "data/judge-pairs.jsonl")!
            guard FileManager.default.fileExists(atPath: f) else { throw r.error("pairs_file", "'\(f)' does not exist") }
            task = .judgePairs(f)
        } else if kind == "arithmetic" {
            var t = ArithmeticTask()
            t.minOperands = try r.int("min_operands", default: 2, min: 2, max: 8)
            t.maxOperands = try r.int("max_operands", default: 4, min: t.minOperands, max: 8)
            t.maxValue = try r.int("max_value", default: 99, min: 1, max: 1_000_000)
            t.operations = try r.strings("operations", default: ["+", "-"])
            if t.operations.isEmpty || t.operations.contains(where: { !["+", "-", "*"].contains($0) }) {
                throw r.error("operations", "expected a list drawn from +, - and *")
            }
            t.seed = UInt64(try r.int("task_seed", default: 0, min: 0))
            task = .arithmetic(t)
        } else {
            guard let train = try r.string("train_file") else { throw r.error("train_file", "is required when task is file") }
            guard let eval = try r.string("eval_file") else { throw r.error("eval_file", "is required when task is file") }
            for (k, f) in [("train_file", train), ("eval_file", eval)] where !FileManager.default.fileExists(atPath: f) {
                throw r.error(k, "'\(f)' does not exist")
            }
            task = .file(train: train, eval: eval)
        }
        trainSize = try r.int("train_size", default: 20000, min: 1)
        sftSize = try r.int("sft_size", default: trainSize, min: 1, max: trainSize)
        evalSize = try r.int("eval_size", default: 500, min: 1)
        validationSize = try r.int("validation_size", default: 200, min: 1)
        template = try r.string("template", default: "qa", oneOf: ["qa", "chat"])!
        thought = try r.bool("thought", default: false)
        if thought && isJudgePairs { throw r.error("thought", "the thought template is for answering questions, not for judge_pairs") }
        try r.finish()
    }
}
