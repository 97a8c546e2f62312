import Foundation
import Kernels
import Tokenizer

/// Saving and restoring a training checkpoint: the model (Hugging Face layout, or PEFT's for adapters),
/// both AdamW moments of the trainable parameters (whole, whatever the sharding) and the step, in a
/// directory that appears only when complete (`AtomicFile.directory`).
public enum TrainingCheckpoint {
    /// `model`, with the optimizer state when given. `beforeRename` runs when the files are written but not
    /// yet in place (a test's kill point).
    public static func save(model: LlamaModel, optimizer: OptimizerState?, tokenizer: BPETokenizer?, to dir: URL,
                            beforeRename: (() -> Void)? = nil) throws {
        try AtomicFile.directory(at: dir, beforeRename: beforeRename) { tmp in
            try Checkpoint.save(model, tokenizer: tokenizer, to: tmp)
            if let o = optimizer {
                let count = o.m.count
                try SafetensorsFile.write([(name: "exp_avg", shape: [count], data: UnsafePointer(o.m.pointer)),
                                           (name: "exp_avg_sq", shape: [count], data: UnsafePointer(o.v.pointer))],
                                          metadata: ["format": "pt", "step": String(o.step)],
                                          to: tmp.appendingPathComponent("optimizer.safetensors"))
            }
        }
    }

    /// Loads weights (only the adapters when the model carries them: the base is frozen and not in the
    /// checkpoint), the trainer's shard of the moments, and the step. A checkpoint written at any world size
    /// restores at any other.
    public static func restore(_ trainer: Trainer, from dir: URL) throws {
        if let adapters = trainer.model.adapters {
            guard AdapterCheckpoint.isAdapterDirectory(dir) else { throw ModelError.format(dir.path, "the run trains LoRA adapters but the checkpoint holds no adapter_config.json") }
            try AdapterCheckpoint.read(into: adapters, from: dir)
        } else {
            let loaded = try Checkpoint.load(path: dir.path)
            guard loaded.model.config == trainer.model.config, loaded.model.adapters == nil else {
                throw ModelError.format(dir.path, "the checkpoint's model differs from the run's")
            }
            trainer.model.params.copy(from: loaded.model.params)
        }
        let st = try SafetensorsFile(url: dir.appendingPathComponent("optimizer.safetensors"))
        for (name, buffer) in [("exp_avg", trainer.m), ("exp_avg_sq", trainer.v)] {
            guard let e = st.entries[name], e.count == trainer.grads.count else {
                throw ModelError.format(st.path, "'\(name)' holds \(st.entries[name]?.count ?? 0) values; the run trains \(trainer.grads.count)")
            }
            if trainer.isSharded {
                let whole = FloatBuffer(count: e.count)
                try st.read(name, into: whole.pointer)
                buffer.pointer.update(from: whole.pointer + trainer.shard.lowerBound, count: trainer.shard.count)
            } else {
                try st.read(name, into: buffer.pointer)
            }
        }
        guard let step = st.metadata["step"].flatMap(Int.init) else { throw ModelError.format(dir.path, "optimizer state without a step") }
        trainer.step = step
    }
}
