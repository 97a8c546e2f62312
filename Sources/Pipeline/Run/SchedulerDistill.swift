import Alignment
import Foundation
import Kernels
import Model

extension Scheduler {
    /// Rejection-sampling SFT (distillation's training, `train: {loss: sft}`): supervised steps on the
    /// round's outputs that the judge passed (score > 0), each distinct output of a question once, re-encoded
    /// with the policy's tokenizer and shown after the question in the policy's own prompt format. Only the
    /// output and end-of-sequence tokens are scored. A killed phase restarts from the round's starting model.
    func rejectionSamplingSFT(_ c: TrainConfig, key: String, round: Int, folder: String) throws {
        let gens = try RecordFile.read(GenerationRecord.self, from: dir.appendingPathComponent("\(folder)/generations.jsonl").path)
        let judgments = try RecordFile.read(JudgmentRecord.self, from: dir.appendingPathComponent("\(folder)/judgments.jsonl").path)
        var passed = Set<String>()
        for j in judgments where (j.score ?? 0) > 0 { passed.insert("\(j.promptId)#\(j.sampleIndex)") }
        let problems = try problemsById(folder)
        var seen = Set<String>()
        var examples: [(ids: [Int32], targets: [Int32])] = []
        for g in gens where passed.contains("\(g.promptId)#\(g.sampleIndex)") {
            guard let p = problems[g.promptId], seen.insert("\(g.promptId)\u{0}\(g.text)").inserted else { continue }
            let completion = completionIds(g.text)
            var prompt = promptIds(p)
            let room = model.config.maxPositions - completion.count
            guard room > 0 else { continue }
            if prompt.count > room { prompt = Array(prompt.suffix(room)) }
            let seq = prompt + completion
            examples.append((seq, (0..<seq.count).map { t in t >= prompt.count - 1 && t + 1 < seq.count ? seq[t + 1] : -1 }))
        }
        let questionsKept = Set(gens.filter { passed.contains("\($0.promptId)#\($0.sampleIndex)") }.map(\.promptId)).count
        try metrics(folder).append(["phase": "sft_examples", "outputs": gens.count, "passed": passed.count, "examples": examples.count,
                                    "questions_with_examples": questionsKept])
        logger.info("\(key): \(examples.count) distinct passing outputs of \(gens.count) (\(questionsKept) questions) for SFT")
        guard !examples.isEmpty else {
            logger.warning("\(key): no output passed the judge; the model is unchanged this round")
            try saveModel("\(folder)/model")
            return
        }
        var rng = RandomStream(key: config.seed, UInt64(round), 0x5F7D)
        rng.shuffle(&examples)
        let setup = TrainerSetup(adamW: AdamWSettings(learningRate: c.learningRate), maxGradNorm: c.maxGradNorm > 0 ? c.maxGradNorm : nil,
                                 microBatchTokens: c.microBatchTokens, checksumEvery: 50, reductionShards: config.reductionShards)
        if cluster.size > 1 { try cluster.broadcast(.setupTrainer(setup)) }
        let dp = DataParallelTrainer(model: model, setup: setup, comm: cluster.comm)
        let perEpoch = (examples.count + c.batchSize - 1) / c.batchSize, total = perEpoch * c.epochs
        let schedule = LearningRateSchedule(kind: c.schedule, peak: c.learningRate, warmupSteps: min(c.warmup, max(total - 1, 0)),
                                            totalSteps: total, minRatio: 0)
        let log = metrics(folder)
        let progress = Progress(key, total: total, logger: logger)
        var tokens = 0.0
        for step in 1...total {
            let s = (step - 1) % perEpoch
            let part = examples[(s * c.batchSize)..<min(examples.count, (s + 1) * c.batchSize)]
            let batch = TrainBatch(ids: part.map(\.ids), targets: part.map(\.targets), learningRate: schedule.rate(at: step))
            if cluster.size > 1 { try cluster.broadcast(.trainStep(batch)) }
            let r = try dp.step(batch)
            tokens += Double(batch.ids.reduce(0) { $0 + $1.count })
            try log.append(["phase": key, "step": step, "loss": r.loss, "grad_norm": Double(r.gradNorm), "lr": Double(batch.learningRate)])
            progress.advance(status: String(format: "loss %.3f", r.loss))
            KillSwitch.point("\(key)/step/\(step)")
        }
        try saveModel("\(folder)/model", trainer: dp.trainer)
        state.trainingTokens[key] = tokens
    }
}
