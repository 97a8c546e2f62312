import Foundation

/// Where a phase runs: its key in `state.json` ("round-2-3-train"), its round (0: the initial phases)
/// and its folder.
struct PhaseStep {
    let key: String
    let round: Int
    let folder: RoundFolder
}

/// One phase of a schedule: reads what earlier phases wrote in the folder, writes its own records and
/// metrics. The scheduler records it as done afterwards; a phase that trains checkpoints itself.
protocol Phase {
    func run(_ ctx: RunContext, _ at: PhaseStep) throws
}

extension PhaseConfig {
    /// The phase that carries out these settings.
    var phase: Phase {
        switch self {
        case .sft(let c): return SFTPhase(config: c)
        case .synthesize(let c): return SynthesizePhase(config: c)
        case .generate(let c): return GeneratePhase(config: c)
        case .judge(let c): return JudgePhase(config: c)
        case .pairs(let c): return PairsPhase(config: c)
        case .train(let c): return c.objective == .sft ? RejectionSamplingSFTPhase(config: c) : PreferenceTrainPhase(config: c)
        case .evaluate: return EvaluatePhase()
        }
    }
}
