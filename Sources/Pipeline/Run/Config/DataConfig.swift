import Alignment
import Foundation
import Generation
import Model

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
    /// Problems in the validation split (SFT's plateau rule and validation loss, the promotion gate's dev
    /// split); with `task: file` the last ones of the training file. 0 is allowed when nothing uses it, and
    /// is the default then for a file (`RunConfig` settles it once the schedule is read).
    public var validationSize: Int
    var validationGiven: Bool
    /// How questions are shown.
    public var template: PromptTemplate
    /// Thought Preference Optimization: questions are wrapped in the thought prompt (`ThoughtPrompt`); answers
    /// and judges read only the response part, and an output without one is unparseable.
    public var thought: Bool
    /// With the thought template: every output gets a response part. The model writes its thoughts up to
    /// the response marker or this many tokens, the marker is then appended and it writes its response
    /// (`ThoughtResponses`), in the generate phases and the evaluation alike. Nil (0 in the config): outputs
    /// are as written.
    public var thoughtTokens: Int?
    /// In the chat format, the line after each question that has a reference answer (what to write and how
    /// to end it). The "qa" format shows the question alone.
    public var instruction: String
    public static let defaultInstruction = "End your answer with '#### <number>'."

    init(_ r: ConfigReader) throws {
        let kind = try r.string("task", default: "arithmetic", oneOf: ["arithmetic", "file", "judge_pairs"])!
        if kind == "judge_pairs" {
            task = .judgePairs(try r.existingPath("pairs_file", default: "data/judge-pairs.jsonl")!)
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
            guard let train = try r.existingPath("train_file") else { throw r.error("train_file", "is required when task is file") }
            guard let eval = try r.existingPath("eval_file") else { throw r.error("eval_file", "is required when task is file") }
            task = .file(train: train, eval: eval)
        }
        trainSize = try r.int("train_size", default: 20000, min: 1)
        sftSize = try r.int("sft_size", default: trainSize, min: 1, max: trainSize)
        evalSize = try r.int("eval_size", default: 500, min: 1)
        validationGiven = r.has("validation_size")
        validationSize = try r.int("validation_size", default: 200, min: 0)
        template = try r.choice("template", default: .qa)
        thought = try r.bool("thought", default: false)
        let tokens = try r.int("thought_tokens", default: 0, min: 0, max: SamplingParameters.maximumNewTokens)
        thoughtTokens = tokens > 0 ? tokens : nil
        if thoughtTokens != nil && !thought { throw r.error("thought_tokens", "forces the response marker of the thought template: set thought: true") }
        instruction = try r.string("instruction", default: DataConfig.defaultInstruction)!
        if thought && isJudgePairs { throw r.error("thought", "the thought template is for answering questions, not for judge_pairs") }
        try r.finish()
    }
}

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
    /// How a GGUF win-rate judge's matrices are held: in their blocks (quantized, the default) or expanded.
    public var winRateJudgePrecision: Precision
    /// Judge accuracy: at every evaluation the policy judges the last `judgeAccuracyCount` labelled pairs of
    /// `judgeAccuracyPairs` in both orders (greedy, up to `judgeAccuracyMaxNewTokens`).
    public var judgeAccuracyPairs: String?
    public var judgeAccuracyCount: Int, judgeAccuracyMaxNewTokens: Int
    /// How the win-rate and judge-accuracy judges give verdicts (logprob: read from probabilities, ties
    /// within `judgeTieMargin` of one half; generate: parsed from greedy text).
    public var judgeMode: JudgeMode
    public var judgeTieMargin: Double
    init(_ r: ConfigReader) throws {
        maxNewTokens = try r.int("max_new_tokens", default: 64, min: 1, max: SamplingParameters.maximumNewTokens)
        batchSize = try r.int("batch_size", default: 64, min: 1, max: SamplingParameters.maximumNewTokens)
        lengthLimit = try r.int("length_limit", default: 0, min: 0, max: 100_000)
        winRatePrompts = try r.existingPath("win_rate_prompts")
        winRateCount = try r.int("win_rate_count", default: 50, min: 1)
        winRateMaxNewTokens = try r.int("win_rate_max_new_tokens", default: 128, min: 1, max: SamplingParameters.maximumNewTokens)
        winRateJudge = try r.existingPath("win_rate_judge")
        winRateJudgePrecision = try r.choice("win_rate_judge_precision", default: .quantized)
        judgeAccuracyPairs = try r.existingPath("judge_accuracy_pairs")
        judgeAccuracyCount = try r.int("judge_accuracy_count", default: 50, min: 1)
        judgeAccuracyMaxNewTokens = try r.int("judge_accuracy_max_new_tokens", default: 128, min: 1, max: SamplingParameters.maximumNewTokens)
        judgeMode = try r.choice("judge_mode", default: .logprob)
        judgeTieMargin = try r.double("judge_tie_margin", default: 0, min: 0, max: 0.5)
        try r.finish()
    }
}
