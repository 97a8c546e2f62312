import Alignment
import Foundation
import Kernels
import Model

extension Scheduler {
    /// Rejection-sampling SFT (distillation's training, `train: {loss: sft}`): supervised steps on the
    /// round's outputs that the judge passed (score > 0), each distinct output of a question once, re-encoded
    /// with the policy's tokenizer and shown after the question in the policy's own prompt format. Only the
    /// output and end-of-sequence tokens are scored. Checkpointed and resumed like SFT (`checkpoint_every`).
    func rejectionSamplingSFT(_ c: TrainConfig, key: String, round: Int, folder: String) throws {
        let gens = try RecordFile.read(GenerationRecord.self, from: dir.appendingPathComponent("\(folder)/generations.jsonl").path)
        let judgments = try RecordFile.read(JudgmentRecord.self, from: dir.appendingPathComponent("\(folder)/judgments.jsonl").path)
        var passed = Set<String>()
        for j in judgments where (j.score ?? 0) > 0 { passed.insert("\(j.promptId)#\(j.sampleIndex)") }
        let problems = try problemsById(folder)
        var seen = Set<String>(), questionsKept = Set<String>()
        var examples: [(ids: [Int32], targets: [Int32])] = []
        for g in gens where passed.contains("\(g.promptId)#\(g.sampleIndex)") {
            questionsKept.insert(g.promptId)
            guard let p = problems[g.promptId], seen.insert("\(g.promptId)\u{0}\(g.text)").inserted else { continue }
            let completion = completionIds(g.text)
            var prompt = promptIds(p)
            let room = model.config.maxPositions - completion.count
            guard room > 0 else { continue }
            if prompt.count > room { prompt = Array(prompt.suffix(room)) }
            let seq = prompt + completion
            examples.append((seq, (0..<seq.count).map { t in t >= prompt.count - 1 && t + 1 < seq.count ? seq[t + 1] : -1 }))
        }
        let resuming = state.checkpoint?.phase == key  // its metrics (this line included) were kept at the checkpoint
        if !resuming { try metrics(folder).append(["phase": "sft_examples", "outputs": gens.count, "passed": passed.count, "examples": examples.count,
                                    "questions_with_examples": questionsKept.count]) }
        logger.info("\(key): \(examples.count) distinct passing outputs of \(gens.count) (\(questionsKept.count) questions) for SFT")
        guard !examples.isEmpty else {
            logger.warning("\(key): no output passed the judge; the model is unchanged this round")
            try finishTraining(key: key, folder: folder, trainer: nil, tokens: 0, log: metrics(folder))
            return
        }
        var rng = RandomStream(key: config.seed, UInt64(round), 0x5F7D)
        rng.shuffle(&examples)
        let (perEpoch, total, schedule) = c.epochSchedule(items: examples.count)
        try supervised(key: key, folder: folder, steps: total, batchSize: c.batchSize,
                       adamW: AdamWSettings(learningRate: c.learningRate), maxGradNorm: c.maxGradNorm,
                       schedule: schedule, checkpointEvery: c.checkpointEvery, plateau: nil, streamTag: 0,
                       microBatchTokens: c.microBatchTokens) { step, lr in
            let s = (step - 1) % perEpoch
            let part = examples[(s * c.batchSize)..<min(examples.count, (s + 1) * c.batchSize)]
            return TrainBatch(ids: part.map(\.ids), targets: part.map(\.targets), learningRate: lr)
        }
    }
}
