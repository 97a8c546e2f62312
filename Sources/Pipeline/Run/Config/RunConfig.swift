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
    public var tokenizer: TokenizerKind
    public var data: DataConfig
    public var evaluation: EvaluationConfig
    public var initial: [PhaseConfig]
    public var rounds: [[PhaseConfig]]
    public var control: ControlConfig?
    public var promotion: PromotionConfig?
    /// `run.seeds`: the whole schedule once per seed (`seed`, `seed + 1`, ...), each into `output_dir/seed-S`.
    public var seeds: Int
    /// `run.tensorboard`: also write the metrics as a TensorBoard event file (`tensorboard/` in the run folder).
    public var tensorboard: Bool

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
        seeds = try run.int("seeds", default: 1, min: 1, max: 100)
        tensorboard = try run.bool("tensorboard", default: false)
        try run.finish()

        let m = try root.child("model")
        let shape = try m.string("shape", oneOf: LlamaConfigShapes.names)
        let path = try m.string("path")
        switch (shape, path) {
        case (let s?, nil): model = .shape(s)
        case (nil, _?): model = .path(try m.existingPath("path")!)
        case (nil, nil): throw ConfigError(file: file, line: m.line, key: "model", message: "give model.shape (to train from scratch) or model.path")
        default: throw m.error("path", "give either model.shape or model.path, not both")
        }
        try m.finish()
        let tok = try root.child("tokenizer")
        tokenizer = try tok.choice("kind", default: .auto)
        if case .shape = model, tokenizer == .model { throw tok.error("kind", "a model trained from scratch has no tokenizer of its own (use bytes)") }
        try tok.finish()
        let dataSection = try root.child("data")
        data = try DataConfig(dataSection)
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
            var overridden: [String: (key: String, line: Int)] = [:]  // "generate.temperature" -> the override that set it
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
                    overridden[key] = ("schedule.rounds.overrides.\(r).\(key)", line)
                }
                try o.finish()
            }
            do {
                perRound.append(try RunConfig.phases(phasesNode, reader: rs, key: "phases", file: file))
            } catch let e as ConfigError {
                // An error in a value a round's override set names that override (the key to fix).
                guard let k = e.key, let dot = k.range(of: #"phases\.[0-9]+\."#, options: .regularExpression),
                      let o = overridden[String(k[dot.upperBound...])] else { throw e }
                throw ConfigError(file: file, line: o.line, key: o.key, message: e.message)
            }
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
        if schedule.has("promotion") {
            promotion = try PromotionConfig(try schedule.child("promotion"))
            if data.isJudgePairs { throw ConfigError(file: file, line: schedule.line, key: "schedule.promotion", message: "the gate compares accuracy on the dev split; data.task judge_pairs has none") }
        }
        let synthesizes = rounds.flatMap { $0 }.compactMap { if case .synthesize(let c) = $0 { return c } else { return nil } }
        func modifies(_ c: SynthesizeConfig) -> Bool { if case .modifiedInstructions = c.source { return true } else { return false } }
        if !data.isJudgePairs, synthesizes.contains(where: modifies) {
            throw ConfigError(file: file, line: schedule.line, key: "schedule.rounds.phases", message: "synthesize.modified_instructions rewrites labelled judge pairs: it needs data.task judge_pairs")
        }
        let forces = rounds.flatMap { $0 }.contains { if case .generate(let g) = $0 { return g.forcedVerdict } else { return false } }
        if forces && !data.isJudgePairs {
            throw ConfigError(file: file, line: schedule.line, key: "schedule.rounds.phases", message: "generate.forced_verdict ends outputs with a [[A]]/[[B]] verdict: it needs data.task judge_pairs")
        }
        if let t = data.thoughtTokens {
            // The response is written in what the thoughts leave of each pass's max_new_tokens.
            let winRate = evaluation.winRatePrompts == nil ? [] : [("evaluation.win_rate_max_new_tokens", evaluation.winRateMaxNewTokens)]
            let limits = [("evaluation.max_new_tokens", evaluation.maxNewTokens)] + winRate + rounds.flatMap { $0 }.compactMap {
                if case .generate(let g) = $0 { return ("generate.max_new_tokens", g.sampling.maxNewTokens) } else { return nil }
            }
            if let (key, n) = limits.first(where: { $0.1 <= t }) {
                throw ConfigError(file: file, line: dataSection.line, key: "data.thought_tokens",
                                  message: "the thoughts' \(t) tokens must leave room for a response: \(key) is \(n)")
            }
        }
        if data.isJudgePairs, synthesizes.contains(where: { !modifies($0) }) {
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
        // The validation split serves SFT (plateau rule, validation loss) and the promotion gate only.
        let sfts = initial.contains { if case .sft = $0 { return true } else { return false } }
        if sfts || promotion != nil {
            if data.validationSize == 0 {
                throw ConfigError(file: file, line: nil, key: "data.validation_size",
                                  message: "0 leaves no validation split, which \(sfts ? "the sft phase (plateau rule, validation loss)" : "the promotion gate (its dev split)") needs")
            }
        } else if !data.validationGiven, case .file = data.task {
            data.validationSize = 0
        }
        if evaluation.winRatePrompts != nil && evaluation.winRateJudge == nil, case .shape = model {
            throw ConfigError(file: file, line: nil, key: "evaluation.win_rate_judge", message: "a model trained from scratch has no starting model to judge with; give win_rate_judge")
        }
        try schedule.finish()
        try root.finish()
    }

    /// The phases of a list; errors name keys as an override spells them (`schedule.rounds.phases.0.generate.samples`).
    static func phases(_ node: ConfigNode?, reader: ConfigReader, key: String, file: String) throws -> [PhaseConfig] {
        guard let node else { return [] }
        guard case .list(let items, _) = node else { throw reader.error(key, "expected a list of phases") }
        return try items.enumerated().map { index, item in
            guard case .map(let entries, let line) = item, entries.count == 1 else {
                throw ConfigError(file: file, line: item.line, key: "\(reader.full(key)).\(index)", message: "each phase is one of sft, synthesize, generate, judge, pairs, train, evaluate with its settings")
            }
            let name = entries[0].key
            let where_ = "\(reader.full(key)).\(index).\(name)"
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

    /// A hash of the configuration as run (resuming with a different one is refused unless forced). Where the
    /// run is written (`run.output_dir`) is not part of it: a run folder moved elsewhere resumes.
    public var hash: String {
        var h: UInt64 = 0xcbf29ce484222325
        for b in RunConfig.identity(tree).canonical.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        return String(h, radix: 16)
    }

    /// The tree without `run.output_dir`.
    static func identity(_ tree: ConfigNode) -> ConfigNode {
        guard case .map(var entries, let line) = tree, let i = entries.firstIndex(where: { $0.key == "run" }),
              case .map(var run, let runLine) = entries[i].value else { return tree }
        run.removeAll { $0.key == "output_dir" }
        entries[i].value = .map(run, line: runLine)
        return .map(entries, line: line)
    }

    /// The keys whose values differ between an earlier tree and this configuration's, output location aside.
    func changedKeys(since before: ConfigNode?) -> [String] {
        ConfigNode.differences(before.map(RunConfig.identity), RunConfig.identity(tree))
    }
}

enum LlamaConfigShapes { static var names: [String] { LlamaConfig.shapeNames } }

public enum PhaseConfig {
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
