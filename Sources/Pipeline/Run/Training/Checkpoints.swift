import Alignment
import Foundation
import Model
import Tokenizer

/// The life of a training phase's checkpoints. The rule everywhere: write the new files (under a
/// temporary name, then renamed into place), record them in `state.json`, and only then delete what they
/// replace. So after a kill at any moment `state.json` names files that exist, and `--resume` continues.
extension RunContext {
    /// Where a training phase continues on `--resume`.
    enum TrainingResume {
        /// Nothing recorded for the phase: start it.
        case start
        /// Continue from this mid-phase checkpoint (steps done, tokens, plateau history).
        case checkpoint(RunState.Checkpointed, URL)
        /// The phase's training is over: its model (now the current one) was saved at `folder/model`.
        case finished
    }

    /// What `state.json` says of training phase `key`, whose model goes to `folder/model`. A recorded checkpoint
    /// that is missing is not fatal when the phase's model exists: a run killed at the end of a phase by a
    /// version that deleted the checkpoint before recording the end leaves exactly that; the model is the
    /// later, complete artifact. Without either it is an error naming both.
    /// `tokens(steps)` gives the tokens of those steps of the phase's plan, for that case.
    /// On `.finished` the model is loaded (and made the run's model unless `makesCurrent` is false), its
    /// tokens recorded, and the folder's checkpoints, which a kill may have left, deleted.
    func resumePoint(key: String, folder: RoundFolder, makesCurrent: Bool = true, tokens tokensOf: (ClosedRange<Int>) -> Double) throws -> TrainingResume {
        guard let cp = state.checkpoint, cp.phase == key else { return .start }
        let fm = FileManager.default
        let output = folder.relative(.model), outputURL = folder.url(.model)
        func finished(tokens: Double) throws -> TrainingResume {
            try loadModel(output)
            if makesCurrent { state.model = output }
            state.trainingTokens[key] = tokens
            removeCheckpoints(in: folder)
            return .finished
        }
        if cp.final == true { return try finished(tokens: state.trainingTokens[key] ?? cp.tokens) }
        let url = dir.appendingPathComponent(cp.directory)
        // A whole model's weights, or LoRA adapters'.
        func holdsModel(_ u: URL) -> Bool { fm.fileExists(atPath: u.appendingPathComponent("model.safetensors").path) || AdapterCheckpoint.isAdapterDirectory(u) }
        if holdsModel(url) { return .checkpoint(cp, url) }
        if holdsModel(outputURL) {
            let optimizer = outputURL.appendingPathComponent("optimizer.safetensors")
            let last = fm.fileExists(atPath: optimizer.path) ? try SafetensorsFile(url: optimizer).metadata["step"].flatMap(Int.init) ?? cp.step : cp.step
            logger.warning("\(key): state.json names \(cp.directory), which is gone, but the phase's model \(output) is saved: its training had finished (step \(last)); continuing from that model (the metrics lines of steps \(cp.step + 1)-\(last) were not kept)")
            return try finished(tokens: cp.tokens + (last > cp.step ? tokensOf((cp.step + 1)...last) : 0))
        }
        throw PipelineError("\(dir.appendingPathComponent(RunState.fileName).path): \(key) is to resume from \(cp.directory), which does not exist, and the phase saved no model at \(output); restore that directory or delete the run directory to start over")
    }

    /// A mid-phase checkpoint at `step`: written, recorded in `state.json` with the metrics so far, and
    /// then the folder's other checkpoints deleted.
    func saveCheckpoint(_ optimizer: OptimizerState, key: String, folder: RoundFolder, step: Int, tokens: Double,
                        history: [Double] = [], decays: Int? = nil, log: MetricsLog) throws {
        let name = folder.relativeCheckpoint(step)
        try TrainingCheckpoint.save(model: policy, optimizer: optimizer, tokenizer: tokenizer, to: dir.appendingPathComponent(name),
                                    beforeRename: { KillSwitch.point("\(key)/saving/\(step)") })
        KillSwitch.point("\(key)/saved/\(step)")
        state.checkpoint = RunState.Checkpointed(phase: key, directory: name, step: step, history: history, tokens: tokens, decays: decays)
        try log.flush(state: &state)
        try saveState()
        KillSwitch.point("\(key)/recorded/\(step)")
        removeCheckpoints(in: folder, except: name)
    }

    /// Deletes the folder's checkpoints but `kept`: the one the last was replaced by, and any that a
    /// kill between recording a checkpoint and deleting its predecessor left behind.
    func removeCheckpoints(in folder: RoundFolder, except kept: String? = nil) {
        let fm = FileManager.default
        let names = (try? fm.contentsOfDirectory(atPath: folder.url.path)) ?? []
        for name in names where name.hasPrefix("checkpoint-") && "\(folder.name)/\(name)" != kept {
            try? fm.removeItem(at: folder.url.appendingPathComponent(name))
        }
    }

    /// Ends a training phase: the model (with the optimizer state when given) saved at
    /// `folder/model`, recorded in `state.json` as the phase's final checkpoint with the tokens trained on and
    /// the metrics so far, then the phase's checkpoints deleted. `makesCurrent` makes it the run's model
    /// (the control arm's does not).
    func finishTraining(key: String, folder: RoundFolder, optimizer: OptimizerState?, tokens: Double, log: MetricsLog,
                        makesCurrent: Bool = true) throws {
        let output = folder.relative(.model)
        try TrainingCheckpoint.save(model: policy, optimizer: optimizer, tokenizer: tokenizer, to: folder.url(.model))
        KillSwitch.point("\(key)/final/saved")
        if makesCurrent { state.model = output }
        state.trainingTokens[key] = tokens
        state.checkpoint = RunState.Checkpointed(phase: key, directory: output, step: optimizer?.step ?? 0, history: [], tokens: tokens, final: true)
        try log.flush(state: &state)
        try saveState()
        KillSwitch.point("\(key)/final/recorded")
        removeCheckpoints(in: folder)
    }
}
