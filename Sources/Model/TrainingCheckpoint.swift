import Foundation
import Kernels
import Tokenizer

/// Saving and restoring a training checkpoint: the model (Hugging Face layout), both AdamW moments and
/// the step, in a directory that appears only when complete (`AtomicFile.directory`).
public enum TrainingCheckpoint {
    /// `model`, with `trainer`'s optimizer state when given. `beforeRename` runs when the files are
    /// written but not yet in place (a test's kill point).
    public static func save(model: LlamaModel, trainer: Trainer?, tokenizer: BPETokenizer?, to dir: URL,
                            beforeRename: (() -> Void)? = nil) throws {
        try AtomicFile.directory(at: dir, beforeRename: beforeRename) { tmp in
            try Checkpoint.save(model, tokenizer: tokenizer, to: tmp)
            if let trainer {
                let count = trainer.m.count
                try SafetensorsFile.write([(name: "exp_avg", shape: [count], data: UnsafePointer(trainer.m.pointer)),
                                           (name: "exp_avg_sq", shape: [count], data: UnsafePointer(trainer.v.pointer))],
                                          metadata: ["format": "pt", "step": String(trainer.step)],
                                          to: tmp.appendingPathComponent("optimizer.safetensors"))
            }
        }
    }

    /// Loads weights, moments and step into `trainer` (whose model has the same configuration).
    public static func restore(_ trainer: Trainer, from dir: URL) throws {
        let loaded = try Checkpoint.load(path: dir.path)
        guard loaded.model.config == trainer.model.config else { throw ModelError.format(dir.path, "the checkpoint's model differs from the run's") }
        trainer.model.params.copy(from: loaded.model.params)
        let st = try SafetensorsFile(url: dir.appendingPathComponent("optimizer.safetensors"))
        try st.read("exp_avg", into: trainer.m.pointer)
        try st.read("exp_avg_sq", into: trainer.v.pointer)
        guard let step = st.metadata["step"].flatMap(Int.init) else { throw ModelError.format(dir.path, "optimizer state without a step") }
        trainer.step = step
    }
}
