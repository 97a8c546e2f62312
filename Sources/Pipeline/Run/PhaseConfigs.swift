import Alignment
import Foundation
import Kernels
import Model

// The settings of each kind of phase (the evaluation included), as `RunConfig` reads them from a schedule.

public struct EvaluationConfig: Equatable {
    public var maxNewTokens: Int
    public var batchSize: Int
    /// LIFT: also answer every evaluation question wrapped with this word limit (0: off), and report the
    /// share of answers within it and the accuracy when an answer over the limit counts as wrong.
    public var lengthLimit: Int
    /// Judged win rate: the last `winRateCount` prompts of `winRatePrompts` are answered (greedy, up to
    /// `winRateMaxNewTokens`) at every evaluation, and each evaluation's answers are judged pairwise in both
    /// orders against the previous evaluation's by `winRateJudge` (default: the model the run starts from).
    /// Those prompts are left out of seeded synthesis and count as evaluation questions for decontamination.
    public var winRatePrompts: String?
    public var winRateCount: Int, winRateMaxNewTokens: Int
    public var winRateJudge: String?
    /// Judge accuracy: at every evaluation the policy judges the last `judgeAccuracyCount` labelled pairs of
    /// `judgeAccuracyPairs` in both orders (greedy, up to `judgeAccuracyMaxNewTokens`).
    public var judgeAccuracyPairs: String?
    public var judgeAccuracyCount: Int, judgeAccuracyMaxNewTokens: Int
    init(_ r: ConfigReader) throws {
        maxNewTokens = try r.int("max_new_tokens", default: 64, min: 1, max: 4096)
        batchSize = try r.int("batch_size", default: 64, min: 1, max: 4096)
        lengthLimit = try r.int("length_limit", default: 0, min: 0, max: 100_000)
        winRatePrompts = try r.string("win_rate_prompts")
        if let f = winRatePrompts, !FileManager.default.fileExists(atPath: f) { throw r.error("win_rate_prompts", "'\(f)' does not exist") }
        winRateCount = try r.int("win_rate_count", default: 50, min: 1)
        winRateMaxNewTokens = try r.int("win_rate_max_new_tokens", default: 128, min: 1, max: 4096)
        winRateJudge = try r.string("win_rate_judge")
        if let f = winRateJudge, !FileManager.default.fileExists(atPath: f) { throw r.error("win_rate_judge", "'\(f)' does not exist") }
        judgeAccuracyPairs = try r.string("judge_accuracy_pairs")
        if let f = judgeAccuracyPairs, !FileManager.default.fileExists(atPath: f) { throw r.error("judge_accuracy_pairs", "'\(f)' does not exist") }
        judgeAccuracyCount = try r.int("judge_accuracy_count", default: 50, min: 1)
        judgeAccuracyMaxNewTokens = try r.int("judge_accuracy_max_new_tokens", default: 128, min: 1, max: 4096)
        try r.finish()
    }
}

public struct SFTConfig: Equatable {
    public var batchSize: Int, learningRate: Float, warmup: Int, minSteps: Int, maxSteps: Int
    public var schedule: LearningRateSchedule.Kind
    public var evalEvery: Int, patience: Int, minDelta: Double, checkpointEvery: Int
    public var weightDecay: Float, maxGradNorm: Float
    /// Reduce-on-plateau: at a plateau the learning rate is multiplied by `lrDecay` and training goes on,
    /// up to `maxDecays` times; the next plateau after the last decay ends the phase.
    public var lrDecay: Float, maxDecays: Int
    /// What the plateau rule watches: "loss" (validation NLL of the gold solutions; a gain is a relative
    /// drop of at least min_delta) or "accuracy" (greedy validation accuracy; a gain is min_delta absolute).
    public var plateauOn: String
    init(_ r: ConfigReader) throws {
        batchSize = try r.int("batch_size", default: 32, min: 1)
        learningRate = Float(try r.double("lr", default: 3e-3, min: 0, max: 10))
        warmup = try r.int("warmup", default: 50, min: 0)
        schedule = LearningRateSchedule.Kind(rawValue: try r.string("schedule", default: "constant", oneOf: ["constant", "linear", "cosine"])!)!
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
        plateauOn = try r.string("plateau_on", default: "loss", oneOf: ["loss", "accuracy"])!
        try r.finish()
    }
}

public struct GenerateConfig: Equatable {
    public var questions: Int, samples: Int, temperature: Float, topP: Float, topK: Int, maxNewTokens: Int, batchSize: Int
    /// Stop strings: an output ends at the first one (which is cut off), as at the end-of-sequence token.
    public var stop: [String]
    /// Where the questions come from: "task" (the training split), "synthesized" (the questions the
    /// round's synthesize phase kept, or the latest earlier round's) or "synthesized_or_task" (those when a
    /// round has kept any, else the training split: Self-RIP's first round).
    public var source: String
    /// Distillation: another model (any model path) writes the outputs instead of the policy, its prompts
    /// in the `teacherTemplate` format ("qa" or "chat"; the run's data.template when not given).
    public var teacher: String?
    public var teacherTemplate: String?
    init(_ r: ConfigReader) throws {
        questions = try r.int("questions", default: 1000, min: 1)
        samples = try r.int("samples", default: 8, min: 1, max: 1024)
        temperature = Float(try r.double("temperature", default: 0.7, min: 0, max: 10))
        topP = Float(try r.double("top_p", default: 1, min: 0.001, max: 1))
        topK = try r.int("top_k", default: 0, min: 0)
        maxNewTokens = try r.int("max_new_tokens", default: 64, min: 1, max: 4096)
        batchSize = try r.int("batch_size", default: 64, min: 1, max: 4096)
        stop = try r.strings("stop", default: [])
        if stop.contains("") { throw r.error("stop", "a stop string must not be empty") }
        source = try r.string("source", default: "task", oneOf: ["task", "synthesized", "synthesized_or_task"])!
        teacher = try r.string("teacher")
        if let t = teacher, !FileManager.default.fileExists(atPath: t) { throw r.error("teacher", "'\(t)' does not exist") }
        teacherTemplate = try r.string("teacher_template", oneOf: ["qa", "chat"])
        if teacherTemplate != nil && teacher == nil { throw r.error("teacher_template", "is the format of a teacher's prompts; give teacher too") }
        try r.finish()
    }
}

public struct JudgeConfig: Equatable {
    public var kind: String
    /// llm_pointwise: judgments per response (averaged over the parseable ones), their sampling, and an
    /// optional file replacing the rubric prompt ({instruction}, {response}). The judge is the policy.
    public var judgments: Int, temperature: Float, maxNewTokens: Int, batchSize: Int
    public var rubric: String?
    /// Meta-Rewarding: the policy also meta-judges the judgments of each prompt's most disputed response
    /// (see `MetaJudge`); the pairs phase then adds the judge pairs to the actor pairs.
    public var metaJudge: Bool
    init(_ r: ConfigReader) throws {
        kind = try r.string("kind", default: "verifiable", oneOf: ["verifiable", "self_consistency", "llm_pointwise"])!
        judgments = try r.int("judgments", default: 3, min: 1, max: 64)
        temperature = Float(try r.double("temperature", default: 0.7, min: 0, max: 10))
        maxNewTokens = try r.int("max_new_tokens", default: 256, min: 1, max: 4096)
        batchSize = try r.int("batch_size", default: 16, min: 1, max: 4096)
        rubric = try r.string("rubric")
        if let path = rubric {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw r.error("rubric", "cannot read '\(path)'") }
            var templates = JudgeTemplates()
            templates.pointwise = text
            do { try templates.validate() } catch { throw r.error("rubric", "'\(path)': \(error)") }
        }
        metaJudge = try r.bool("meta_judge", default: false)
        if metaJudge && kind != "llm_pointwise" { throw r.error("meta_judge", "meta-judging compares LLM judgments: use it with kind llm_pointwise") }
        if metaJudge && judgments < 2 { throw r.error("meta_judge", "needs at least 2 judgments per response to compare") }
        try r.finish()
    }
}

public struct PairsConfig: Equatable {
    public var kind: String, maxPairs: Int, tau: Double
    /// length_controlled: Meta-Rewarding's rho (0: shortest of the best against longest of the worst).
    public var rho: Double
    /// tpo: the most an unparseable output (no response part) may serve as rejected, as a fraction of the
    /// round's pairs.
    public var maxUnparsedFraction: Double
    /// RIP: keep a prompt's pair when its rejected score is at least the `ripReward`-th percentile of the
    /// round's pairs, its rejected length (tokens) at least the `ripLength`-th and its score gap at most the
    /// `ripGap`-th.
    public var rip: RIPFilter?
    /// LIFT: besides each pair, two length-instructed pairs when the responses' word counts differ by at
    /// least `minDifference` (see `LengthInstructions`).
    public var lift: LengthInstructions?
    /// The reference model whose log-probs are stored with the pairs: the model at the start of the round
    /// ("round_start", the recipes' default) or the model the rounds started from ("initial").
    public var reference: String
    init(_ r: ConfigReader) throws {
        kind = try r.string("kind", default: "correct_vs_incorrect",
                            oneOf: ["correct_vs_incorrect", "self_consistency", "best_vs_worst", "length_controlled", "tpo"])!
        maxPairs = try r.int("max_pairs", default: 4, min: 1)
        tau = try r.double("tau", default: 0.5, min: 0, max: 1)
        rho = try r.double("rho", default: 0, min: 0, max: kind == "tpo" ? 10 : 0.5)
        maxUnparsedFraction = try r.double("max_unparsed_fraction", default: 0.1, min: 0, max: 1)
        let filter = try r.string("filter", default: "none", oneOf: ["none", "rip"])!
        let p1 = try r.double("rip_reward", default: 50, min: 0, max: 100)
        let p2 = try r.double("rip_length", default: 50, min: 0, max: 100)
        let p3 = try r.double("rip_gap", default: 50, min: 0, max: 100)
        rip = filter == "rip" ? RIPFilter(rejectedRewardPercentile: p1, rejectedLengthPercentile: p2, gapPercentile: p3) : nil
        let liftOn = try r.bool("lift", default: false)
        let minDifference = try r.int("lift_min_difference", default: 10, min: 0)
        let slack = try r.int("lift_slack", default: 5, min: 0)
        lift = liftOn ? LengthInstructions(minDifference: minDifference, slack: slack) : nil
        if liftOn && rip != nil { throw r.error("lift", "lift and filter: rip together are not supported") }
        if rip != nil && !["best_vs_worst", "length_controlled", "tpo"].contains(kind) {
            throw r.error("filter", "rip filters pairs by judge scores: use it with kind best_vs_worst, length_controlled or tpo")
        }
        reference = try r.string("reference", default: "round_start", oneOf: ["round_start", "initial"])!
        try r.finish()
    }
}

public struct TrainConfig: Equatable {
    public var loss: String, beta: Double, alpha: Double, gamma: Double, learningRate: Float, warmup: Int
    public var schedule: LearningRateSchedule.Kind, batchSize: Int, epochs: Int, checkpointEvery: Int
    public var maxGradNorm: Float, microBatchTokens: Int
    init(_ r: ConfigReader) throws {
        loss = try r.string("loss", default: "irpo", oneOf: ["dpo", "irpo", "scpo", "ipo", "simpo", "sft"])!
        beta = try r.double("beta", default: 0.1, min: 1e-6)
        alpha = try r.double("alpha", default: 1, min: 0)
        gamma = try r.double("gamma", default: 0.5)
        learningRate = Float(try r.double("lr", default: 1e-4, min: 0, max: 10))
        warmup = try r.int("warmup", default: 10, min: 0)
        let s = try r.string("schedule", default: "cosine", oneOf: ["constant", "linear", "cosine"])!
        schedule = LearningRateSchedule.Kind(rawValue: s)!
        batchSize = try r.int("batch_size", default: 16, min: 1)
        epochs = try r.int("epochs", default: 1, min: 1)
        checkpointEvery = try r.int("checkpoint_every", default: 50, min: 1)
        maxGradNorm = Float(try r.double("max_grad_norm", default: 1, min: 0))
        microBatchTokens = try r.int("micro_batch_tokens", default: 4096, min: 16)
        try r.finish()
    }
}

extension TrainConfig {
    /// Steps per epoch over `items` in batches, total steps over the epochs, and the learning rate over
    /// them (warmup capped below the total, decaying to zero).
    func epochSchedule(items: Int) -> (perEpoch: Int, total: Int, schedule: LearningRateSchedule) {
        let perEpoch = (items + batchSize - 1) / batchSize, total = perEpoch * epochs
        return (perEpoch, total, LearningRateSchedule(kind: schedule, peak: learningRate, warmupSteps: min(warmup, max(total - 1, 0)),
                                                      totalSteps: total, minRatio: 0))
    }
}

/// The control arm: the same extra training compute as the rounds' training, spent on more SFT of the
/// gold solutions, starting from the SFT model.
public struct ControlConfig: Equatable {
    public var enabled: Bool
    init(_ r: ConfigReader) throws {
        enabled = try r.bool("enabled", default: true)
        try r.finish()
    }
}

/// Synthesis of new training questions by the policy, from documents or from example prompts.
/// Documents (NaturalReasoning style): `samples` questions with numeric reference answers from each document
/// (`.txt` and `.md` files of `documents`, in name order, each cut to its first `maxDocumentWords` words); see
/// `QuestionSynthesis`. Seeds (Self-Rewarding, Self-RIP): `requests` prompts, each showing `shots` examples
/// drawn from `seeds` (a prompt file, or `previous_pairs`: the prompts of the previous round's pairs, which
/// after a RIP filter are the kept ones), `samples` new instructions each; see `PromptSynthesis`.
/// Modified instructions (Self-Taught Evaluator, with data.task judge_pairs): for `modifiedInstructions`
/// labelled pairs of the round, the policy writes a modified question and answers it; the answer replaces
/// the pair's worse response (see `ModifiedInstruction`).
public struct SynthesizeConfig: Equatable {
    public var documents: String?
    public var seeds: String?
    public var modifiedInstructions: Int
    public var shots: Int, requests: Int
    public var samples: Int, temperature: Float, topP: Float, maxNewTokens: Int, batchSize: Int, maxDocumentWords: Int
    public var duplicateRougeL: Double, contaminationNGram: Int
    init(_ r: ConfigReader) throws {
        documents = try r.string("documents")
        seeds = try r.string("seeds")
        modifiedInstructions = try r.int("modified_instructions", default: 0, min: 0)
        switch (documents, seeds, modifiedInstructions > 0) {
        case (let d?, nil, false):
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: d, isDirectory: &isDir), isDir.boolValue else { throw r.error("documents", "'\(d)' is not a folder") }
            guard !SynthesizeConfig.files(in: d).isEmpty else { throw r.error("documents", "'\(d)' has no .txt or .md files") }
        case (nil, let f?, false):
            if f != "previous_pairs" && !FileManager.default.fileExists(atPath: f) { throw r.error("seeds", "'\(f)' does not exist (a prompt file, or previous_pairs)") }
        case (nil, nil, true): break
        case (nil, nil, false):
            throw r.error("documents", "give documents (a folder of .txt or .md files), seeds (a prompt file, or previous_pairs) or modified_instructions")
        default: throw r.error("seeds", "give one of documents, seeds or modified_instructions")
        }
        shots = try r.int("shots", default: 8, min: 1, max: 64)
        requests = try r.int("requests", default: 64, min: 1)
        samples = try r.int("samples", default: documents != nil ? 4 : 1, min: 1, max: 1024)
        temperature = Float(try r.double("temperature", default: 0.8, min: 0, max: 10))
        topP = Float(try r.double("top_p", default: 1, min: 0.001, max: 1))
        maxNewTokens = try r.int("max_new_tokens", default: 128, min: 1, max: 4096)
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
