import Alignment
import Foundation
import Generation
import Kernels
import Model

// The settings of each kind of phase, as `RunConfig` reads them from a schedule. Every choice is a typed
// value from here on; sampling settings are `SamplingParameters`, checked where the command line checks them.

public struct SFTConfig {
    public var batchSize: Int, learningRate: Float, warmup: Int, minSteps: Int, maxSteps: Int
    public var schedule: LearningRateSchedule.Kind
    public var evalEvery: Int, patience: Int, minDelta: Double, checkpointEvery: Int
    public var weightDecay: Float, maxGradNorm: Float
    /// Reduce-on-plateau: at a plateau the learning rate is multiplied by `lrDecay` and training goes on,
    /// up to `maxDecays` times; the next plateau after the last decay ends the phase.
    public var lrDecay: Float, maxDecays: Int
    /// What the plateau rule watches (a gain is a relative drop of at least min_delta for the loss, an
    /// absolute rise of min_delta for accuracy).
    public var plateauOn: PlateauMetric
    /// `lora: {rank, alpha, targets}` and `zero: 1`.
    public var scope: TrainingScope
    public var nonFinite: NonFinitePolicy
    init(_ r: ConfigReader) throws {
        batchSize = try r.int("batch_size", default: 32, min: 1)
        learningRate = Float(try r.double("lr", default: 3e-3, min: 0, max: 10))
        warmup = try r.int("warmup", default: 50, min: 0)
        schedule = try r.choice("schedule", default: .constant)
        maxSteps = try r.int("max_steps", default: 3000, min: 1)
        minSteps = try r.int("min_steps", default: 0, min: 0, max: maxSteps)
        evalEvery = try r.int("eval_every", default: 150, min: 1)
        patience = try r.int("patience", default: 2, min: 1)
        minDelta = try r.double("min_delta", default: 0.01, min: 0, max: 1)
        checkpointEvery = try r.int("checkpoint_every", default: 100, min: 1)
        weightDecay = Float(try r.double("weight_decay", default: 0.0, min: 0))
        maxGradNorm = Float(try r.double("max_grad_norm", default: 1.0, min: 0))
        lrDecay = Float(try r.double("lr_decay", default: 0.1, min: 0, max: 1))
        maxDecays = try r.int("max_decays", default: 0, min: 0, max: 10)
        plateauOn = try r.choice("plateau_on", default: .loss)
        nonFinite = try NonFinitePolicy(r)
        scope = try TrainingScope(r)
        try r.finish()
    }
}

public struct GenerateConfig {
    public var questions: Int, samples: Int, batchSize: Int
    /// temperature, top_p, top_k, max_new_tokens and stop (an output ends at the first stop string, which
    /// is cut off, as at the end-of-sequence token).
    public var sampling: SamplingParameters
    public var source: QuestionSource
    /// Distillation: another model (any model path) writes the outputs instead of the policy, its prompts
    /// in the `teacherTemplate` format (the run's data.template when not given).
    public var teacher: String?
    public var teacherTemplate: PromptTemplate?
    /// How a GGUF teacher's matrices are held: in their blocks (quantized, the default) or expanded.
    public var teacherPrecision: Precision
    /// data.task judge_pairs: every output ends in a verdict drawn from the policy's probabilities after
    /// "[[" (see `ForcedVerdicts`).
    public var forcedVerdict: Bool
    init(_ r: ConfigReader) throws {
        questions = try r.int("questions", default: 1000, min: 1)
        samples = try r.int("samples", default: 8, min: 1, max: 1024)
        sampling = try r.sampling(["temperature", "top_p", "top_k", "max_new_tokens", "stop"], defaults: .phase(temperature: 0.7, maxNewTokens: 64))
        batchSize = try r.int("batch_size", default: 64, min: 1, max: 4096)
        source = try r.choice("source", default: .task)
        teacher = try r.existingPath("teacher")
        teacherTemplate = try r.choice("teacher_template")
        if teacherTemplate != nil && teacher == nil { throw r.error("teacher_template", "is the format of a teacher's prompts; give teacher too") }
        teacherPrecision = try r.choice("teacher_precision", default: .quantized)
        if r.has("teacher_precision") && teacher == nil { throw r.error("teacher_precision", "says how a teacher's weights are held; give teacher too") }
        forcedVerdict = try r.bool("forced_verdict", default: false)
        if forcedVerdict && teacher != nil { throw r.error("forced_verdict", "draws the verdict from the policy's probabilities; it does not apply to a teacher's outputs") }
        try r.finish()
    }
}

public struct JudgeConfig {
    public var kind: JudgeKind
    /// llm_pointwise: judgments per response (averaged over the parseable ones), their sampling
    /// (temperature, max_new_tokens), and an optional file replacing the rubric prompt ({instruction},
    /// {response}). The judge is the policy.
    public var judgments: Int, batchSize: Int
    public var sampling: SamplingParameters
    public var rubric: String?
    /// Meta-Rewarding: the policy also meta-judges the judgments of each prompt's most disputed response
    /// (see `MetaJudge`); the pairs phase then adds the judge pairs to the actor pairs.
    public var metaJudge: Bool
    /// llm_pointwise: the verdict read from probabilities (logprob, the default) or parsed from generated
    /// text; with `reasoning` the judge first writes up to "Score:" or `max_new_tokens` (sampled with the
    /// phase's temperature), then the verdict is read. Scores run 0...`maxScore`.
    public var mode: JudgeMode
    public var reasoning: Bool
    public var maxScore: Int
    /// Another model as the judge (any model path, loaded on every rank for the phase); nil: the policy.
    public var model: String?
    /// How a GGUF judge model's matrices are held: in their blocks (quantized, the default) or expanded.
    public var precision: Precision
    /// The round's judge audit (`judge_audit.json`); nil when off.
    public var audit: JudgeAuditConfig?
    /// verifiable: an output cut at `max_new_tokens` is judged `unfinished` (score 0) whatever answer it
    /// holds, so it is never a chosen or a kept sample and, against a correct one, it is a rejected one.
    public var requireStop: Bool
    init(_ r: ConfigReader) throws {
        kind = try r.choice("kind", default: .verifiable)
        requireStop = try r.bool("require_stop", default: false)
        if r.has("require_stop") && kind != .verifiable { throw r.error("require_stop", "applies to the verifiable judge only (kind verifiable)") }
        mode = try r.choice("mode", default: .logprob)
        reasoning = try r.bool("reasoning", default: false)
        maxScore = try r.int("max_score", default: 5, min: 1, max: 100)
        model = try r.existingPath("model")
        precision = try r.choice("precision", default: .quantized)
        if r.has("precision") && model == nil { throw r.error("precision", "says how a judge model's weights are held; give model too (the policy judging itself stays float32)") }
        audit = r.has("audit") ? try JudgeAuditConfig(try r.child("audit")) : nil
        if kind != .llmPointwise {
            for key in ["mode", "reasoning", "max_score", "model", "audit"] where r.has(key) { throw r.error(key, "applies to LLM judges only (kind llm_pointwise)") }
        }
        if reasoning && mode == .generate { throw r.error("reasoning", "reasoning first applies to mode logprob (mode generate always writes its reasoning)") }
        judgments = try r.int("judgments", default: 3, min: 1, max: 64)
        sampling = try r.sampling(["temperature", "max_new_tokens"], defaults: .phase(temperature: 0.7, maxNewTokens: 256))
        batchSize = try r.int("batch_size", default: 16, min: 1, max: 4096)
        rubric = try r.string("rubric")
        if let path = rubric {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw r.error("rubric", "cannot read '\(path)'") }
            var templates = JudgeTemplates()
            templates.pointwise = text
            do { try templates.validate() } catch { throw r.error("rubric", "'\(path)': \(error)") }
        }
        metaJudge = try r.bool("meta_judge", default: false)
        if metaJudge && kind != .llmPointwise { throw r.error("meta_judge", "meta-judging compares LLM judgments: use it with kind llm_pointwise") }
        if metaJudge && judgments < 2 { throw r.error("meta_judge", "needs at least 2 judgments per response to compare") }
        if metaJudge && mode == .logprob && !reasoning {
            throw r.error("meta_judge", "meta-judging compares written judgments: with mode logprob set reasoning: true")
        }
        try r.finish()
    }
}

/// The judge audit of every round: the judge also judges a gold slice of labelled pairs (both responses
/// pointwise; right when the better one scores higher), and below `minGoldAccuracy` the run stops before
/// training on its verdicts.
public struct JudgeAuditConfig: Equatable {
    public var goldPairs: String
    public var goldCount: Int
    public var minGoldAccuracy: Double
    init(_ r: ConfigReader) throws {
        goldPairs = try r.existingPath("gold_pairs", default: "data/judge-pairs.jsonl")!
        goldCount = try r.int("gold_count", default: 40, min: 1, max: 100_000)
        minGoldAccuracy = try r.double("min_gold_accuracy", default: 0, min: 0, max: 1)
        try r.finish()
    }
}

public struct PairsConfig {
    /// The pair kind with its settings (`PairSelections` lists them).
    public var selection: PairSelection
    /// An optional filter of the built pairs (`PairFilters` lists them; RIP).
    public var filter: PairFilter?
    /// LIFT: besides each pair, two length-instructed pairs when the responses' word counts differ by at
    /// least `minDifference` (see `LengthInstructions`).
    public var lift: LengthInstructions?
    /// The reference model whose log-probs are stored with the pairs.
    public var reference: ReferenceModel
    init(_ r: ConfigReader) throws {
        selection = try PairSelections.read(r)
        filter = try PairFilters.read(r, selection: selection)
        let liftOn = try r.bool("lift", default: false)
        let minDifference = try r.int("lift_min_difference", default: 10, min: 0)
        let slack = try r.int("lift_slack", default: 5, min: 0)
        lift = liftOn ? LengthInstructions(minDifference: minDifference, slack: slack) : nil
        if liftOn && filter != nil { throw r.error("lift", "lift and a pair filter together are not supported") }
        reference = try r.choice("reference", default: .roundStart)
        try r.finish()
    }
}

public struct TrainConfig {
    public var objective: TrainObjective
    public var settings: LossSettings
    public var learningRate: Float, warmup: Int
    public var schedule: LearningRateSchedule.Kind, batchSize: Int, epochs: Int, checkpointEvery: Int
    public var maxGradNorm: Float, microBatchTokens: Int
    /// Rejection-sampling SFT only: the run folder whose rounds' training tokens each round matches
    /// (`{seed}` is replaced by the run's seed), instead of `epochs`.
    public var matchTokens: String?
    /// `lora: {rank, alpha, targets}` and `zero: 1`.
    public var scope: TrainingScope
    public var nonFinite: NonFinitePolicy
    init(_ r: ConfigReader) throws {
        objective = TrainObjective(name: try r.string("loss", default: "irpo", oneOf: TrainObjective.names)!)!
        settings = LossSettings(beta: try r.double("beta", default: 0.1), alpha: try r.double("alpha", default: 1),
                                gamma: try r.double("gamma", default: 0.5))
        if let (key, message) = settings.problem() { throw r.error(key, message) }
        learningRate = Float(try r.double("lr", default: 1e-4, min: 0, max: 10))
        warmup = try r.int("warmup", default: 10, min: 0)
        schedule = try r.choice("schedule", default: .cosine)
        batchSize = try r.int("batch_size", default: 16, min: 1)
        epochs = try r.int("epochs", default: 1, min: 1)
        matchTokens = try r.string("match_tokens")
        if let folder = matchTokens {
            if objective != .sft { throw r.error("match_tokens", "matches training tokens for rejection-sampling SFT only (loss: sft)") }
            if r.has("epochs") { throw r.error("match_tokens", "sets the steps from the tokens; leave out epochs") }
            if folder.isEmpty { throw r.error("match_tokens", "expected a run folder such as runs/irpo-smollm2/seed-{seed}") }
        }
        checkpointEvery = try r.int("checkpoint_every", default: 50, min: 1)
        maxGradNorm = Float(try r.double("max_grad_norm", default: 1, min: 0))
        microBatchTokens = try r.int("micro_batch_tokens", default: 4096, min: 16)
        nonFinite = try NonFinitePolicy(r)
        scope = try TrainingScope(r)
        try r.finish()
    }

    /// Steps per epoch over `items` in batches, total steps over the epochs, and the learning rate over
    /// them (warmup capped below the total, decaying to zero).
    func epochSchedule(items: Int) -> (perEpoch: Int, total: Int, schedule: LearningRateSchedule) {
        let perEpoch = (items + batchSize - 1) / batchSize, total = perEpoch * epochs
        return (perEpoch, total, rateSchedule(steps: total))
    }

    /// The learning rate over `steps` steps: warmup capped below the total, decaying to zero.
    func rateSchedule(steps: Int) -> LearningRateSchedule {
        LearningRateSchedule(kind: schedule, peak: learningRate, warmupSteps: min(warmup, max(steps - 1, 0)), totalSteps: steps, minRatio: 0)
    }
}

/// What a training phase does at a step whose loss or gradient norm is not finite (the weights are never
/// updated by it): `on_nonfinite: stop` (the default) ends the run with an error naming the phase and step;
/// `skip` goes on to the next step, counting, and stops once more than `max_skipped` steps were skipped.
public struct NonFinitePolicy: Equatable {
    public var skip = false
    public var maxSkipped = 0
    public init() {}
    init(_ r: ConfigReader) throws {
        skip = try r.string("on_nonfinite", default: "stop", oneOf: ["stop", "skip"]) == "skip"
        maxSkipped = try r.int("max_skipped", default: 10, min: 0)
        if !skip && r.has("max_skipped") { throw r.error("max_skipped", "applies with on_nonfinite: skip") }
    }
}

/// The control arm: the same extra training compute as the rounds' training, spent on more SFT of the
/// gold solutions, starting from the SFT model.
public struct ControlConfig {
    public var enabled: Bool
    init(_ r: ConfigReader) throws {
        enabled = try r.bool("enabled", default: true)
        try r.finish()
    }
}

/// The promotion gate (`schedule.promotion`): after each round the round's model and the current one answer
/// the dev split (the validation problems, greedy), compared by exact McNemar. `not_worse`: the round's model
/// replaces the current one unless significantly worse at `alpha`; `better`: only if significantly better.
public struct PromotionConfig: Equatable {
    public enum Rule: String, CaseIterable, Sendable { case notWorse = "not_worse", better }
    public var rule: Rule
    public var alpha: Double
    public init(rule: Rule, alpha: Double) { self.rule = rule; self.alpha = alpha }
    init(_ r: ConfigReader) throws {
        rule = try r.choice("rule", default: .notWorse)
        alpha = try r.double("alpha", default: 0.05, min: 1e-9, max: 1)
        try r.finish()
    }
}

/// Synthesis of new training questions by the policy, from documents or from example prompts.
/// Documents (NaturalReasoning style): `samples` questions with numeric reference answers from each document
/// (`.txt` and `.md` files of `documents`, in name order, each cut to its first `maxDocumentWords` words); see
/// `QuestionSynthesis`. Seeds (Self-Rewarding, Self-RIP): `requests` prompts, each showing `shots` examples
/// drawn from `seeds` (a prompt file, or `previous_pairs`: the prompts of the previous round's pairs, which
/// after a RIP filter are the kept ones), `samples` new instructions each; see `PromptSynthesis`.
/// Modified instructions (Self-Taught Evaluator, with data.task judge_pairs): for `modified_instructions`
/// labelled pairs of the round, the policy writes a modified question and answers it; the answer replaces
/// the pair's worse response (see `ModifiedInstruction`).
public struct SynthesizeConfig {
    public var source: SynthesisSource
    public var shots: Int, requests: Int
    public var samples: Int, batchSize: Int, maxDocumentWords: Int
    /// temperature, top_p and max_new_tokens.
    public var sampling: SamplingParameters
    public var duplicateRougeL: Double, contaminationNGram: Int
    init(_ r: ConfigReader) throws {
        let documents = try r.string("documents"), seeds = try r.string("seeds")
        let modified = try r.int("modified_instructions", default: 0, min: 0)
        switch (documents, seeds, modified > 0) {
        case (_?, nil, false):
            let d = try r.existingPath("documents", folder: true)!
            guard !SynthesizeConfig.files(in: d).isEmpty else { throw r.error("documents", "'\(d)' has no .txt or .md files") }
            source = .documents(d)
        case (nil, "previous_pairs"?, false): source = .previousPairs
        case (nil, _?, false): source = .seedFile(try r.existingPath("seeds")!)
        case (nil, nil, true): source = .modifiedInstructions(modified)
        case (nil, nil, false):
            throw r.error("documents", "give documents (a folder of .txt or .md files), seeds (a prompt file, or previous_pairs) or modified_instructions")
        default: throw r.error("seeds", "give one of documents, seeds or modified_instructions")
        }
        shots = try r.int("shots", default: 8, min: 1, max: 64)
        requests = try r.int("requests", default: 64, min: 1)
        samples = try r.int("samples", default: documents != nil ? 4 : 1, min: 1, max: 1024)
        sampling = try r.sampling(["temperature", "top_p", "max_new_tokens"], defaults: .phase(temperature: 0.8, maxNewTokens: 128))
        batchSize = try r.int("batch_size", default: 16, min: 1, max: 4096)
        maxDocumentWords = try r.int("max_document_words", default: 300, min: 1)
        duplicateRougeL = try r.double("duplicate_rouge_l", default: 0.7, min: 0, max: 1)
        contaminationNGram = try r.int("contamination_ngram", default: 8, min: 1, max: 100)
        try r.finish()
    }

    /// The documents of a folder, sorted by name.
    public static func files(in folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".txt") || $0.hasSuffix(".md") }.sorted()
    }
}

extension TrainingScope {
    /// A training section's `lora` (a map of rank, alpha: 2 x rank unless given, targets: all seven unless
    /// given) and `zero` (0: replicated AdamW, 1: ZeRO-1 moments sharded over the ranks).
    init(_ r: ConfigReader) throws {
        var lora: LoRAConfig? = nil
        if r.has("lora") {
            let l = try r.child("lora")
            let rank = try l.int("rank", default: 16, min: 1, max: 4096)
            let alpha = l.has("alpha") ? Float(try l.double("alpha", default: 0, min: 1e-6)) : nil
            let names = try l.strings("targets", default: LoRATarget.allCases.map(\.shortName))
            let targets: [LoRATarget]
            do { targets = try LoRAConfig.targets(names) } catch let e as ModelError { throw l.error("targets", e.description) }
            lora = try LoRAConfig(rank: rank, alpha: alpha, targets: targets)
            try l.finish()
        }
        self.init(lora: lora, loraSeed: 0, zero: try r.int("zero", default: 0, min: 0, max: 1))
    }
}
