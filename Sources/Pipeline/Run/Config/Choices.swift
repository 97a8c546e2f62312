import Alignment
import Foundation

// The choices a config makes by name, each read once (`ConfigReader.choice`, which lists the allowed
// names in its error) and compared as values from then on.

/// How questions are shown to the model: "Q: ...\nA: " or the model's own chat format.
public enum PromptTemplate: String, CaseIterable, Sendable { case qa, chat }

/// The tokenizer of a run: the model's own when it has one, else bytes (auto), or either by force.
public enum TokenizerKind: String, CaseIterable, Sendable { case auto, bytes, model }

/// Where a generate phase's questions come from: the training split, the questions a synthesize phase
/// kept (this round's or the latest earlier round's), or those when a round has kept any, else the split.
public enum QuestionSource: String, CaseIterable, Sendable {
    case task, synthesized
    case synthesizedOrTask = "synthesized_or_task"
}

/// How an LLM judge gives its verdict: read from its probabilities over the closed set of verdicts after
/// a forced prefix (one forward pass), or parsed from text it generates.
public enum JudgeMode: String, CaseIterable, Sendable { case logprob, generate }

/// How outputs are judged: by their final answer against the reference, by majority vote among a
/// prompt's samples, or by the policy with a rubric (LLM-as-a-judge, pointwise scores).
public enum JudgeKind: String, CaseIterable, Sendable {
    case verifiable
    case selfConsistency = "self_consistency"
    case llmPointwise = "llm_pointwise"
}

/// What the SFT plateau rule watches: validation NLL of the gold solutions, or greedy validation accuracy.
public enum PlateauMetric: String, CaseIterable, Sendable { case loss, accuracy }

/// The reference model of a round's pairs: the model at the start of the round, or the one the rounds
/// started from.
public enum ReferenceModel: String, CaseIterable, Sendable {
    case roundStart = "round_start"
    case initial
}

/// A train phase's objective: a preference loss on the round's pairs, or supervised fine-tuning on the
/// outputs the judge passed (rejection sampling; distillation with a teacher).
public enum TrainObjective: Equatable, Sendable {
    case preference(PreferenceLossKind)
    case sft
    public static let names = PreferenceLosses.names + ["sft"]
    init?(name: String) {
        if name == "sft" { self = .sft } else if let k = PreferenceLossKind(rawValue: name) { self = .preference(k) } else { return nil }
    }
}

/// What a synthesize phase writes from.
public enum SynthesisSource: Equatable, Sendable {
    /// NaturalReasoning-style questions from the documents of a folder.
    case documents(String)
    /// New instructions from example prompts of a prompt file.
    case seedFile(String)
    /// New instructions from the prompts of the previous round's pairs (Self-RIP).
    case previousPairs
    /// Self-Taught Evaluator: this many labelled pairs of the round get a modified question.
    case modifiedInstructions(Int)
}
