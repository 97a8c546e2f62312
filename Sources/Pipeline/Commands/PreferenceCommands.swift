import Alignment
import Cluster
import Foundation
import Generation
import Kernels
import Logging
import Model
import Tokenizer

/// `autodidact preference-loss` and `autodidact preference-train`.
public enum PreferenceCommands {
    /// Token ids of a pair line: ids as given, or text tokenized (prompt and completions separately, the
    /// completions ending with the end-of-sequence token, as TRL does).
    public static func tokenize(_ pairs: [PairRecord], tokenizer: BPETokenizer?, file: String) throws -> [TokenizedPair] {
        try pairs.enumerated().map { k, p in
            if let pi = p.promptIds, let ci = p.chosenIds, let ri = p.rejectedIds {
                return TokenizedPair(prompt: pi, chosen: ci, rejected: ri, refChosen: p.refChosenLogps, refRejected: p.refRejectedLogps, weight: p.weight)
            }
            guard let t = tokenizer else { throw PipelineError("\(file): pair \(k + 1) is text but the model has no tokenizer") }
            let prompt = t.encodePrompt(p.prompt!)
            let eos = t.eosTokenId.map { [$0] } ?? []
            return TokenizedPair(prompt: prompt, chosen: t.encode(p.chosen!) + eos, rejected: t.encode(p.rejected!) + eos,
                                 refChosen: p.refChosenLogps, refRejected: p.refRejectedLogps, weight: p.weight)
        }
    }

    static func check(_ pairs: [TokenizedPair], vocab: Int, context: Int, file: String) throws {
        for (k, p) in pairs.enumerated() {
            for (name, ids) in [("prompt", p.prompt), ("chosen", p.chosen), ("rejected", p.rejected)] {
                if ids.isEmpty { throw PipelineError("\(file):\(k + 1): empty \(name)") }
                if let bad = ids.first(where: { $0 < 0 || Int($0) >= vocab }) {
                    throw PipelineError("\(file):\(k + 1): \(name) token id \(bad) is outside the vocabulary of \(vocab)")
                }
            }
            let longest = p.prompt.count + max(p.chosen.count, p.rejected.count)
            if longest > context {
                throw PipelineError("\(file):\(k + 1): the prompt and its longer completion are \(longest) tokens, more than the model's context of \(context)")
            }
        }
    }

    /// One JSON line per pair: the four summed completion log-probs and the loss.
    public static func loss(policy: String, reference: String?, pairsFile: String, loss kind: PreferenceLossKind, settings: LossSettings,
                            logger: Logger) throws -> [String] {
        let lossFunction = PreferenceLosses.make(kind, settings)
        let pol = try ModelCommands.load(policy, logger: logger)
        let records = try RecordFile.read(PairRecord.self, from: pairsFile)
        let pairs = try tokenize(records, tokenizer: pol.tokenizer, file: pairsFile)
        try check(pairs, vocab: pol.model.config.vocabSize, context: pol.model.config.maxPositions, file: pairsFile)
        let prompts = pairs.flatMap { [$0.prompt, $0.prompt] }, completions = pairs.flatMap { [$0.chosen, $0.rejected] }
        let pv = try CompletionScoring.logps(pol.model, prompts: prompts, completions: completions)
        var rv = [Double](repeating: 0, count: pv.count)
        if let reference {
            let ref = try ModelCommands.load(reference, logger: logger)
            rv = try CompletionScoring.logps(ref.model, prompts: prompts, completions: completions)
        } else if lossFunction.usesReference {
            for (k, p) in pairs.enumerated() {
                guard let c = p.refChosen, let r = p.refRejected else {
                    throw PipelineError("\(pairsFile):\(k + 1): the \(kind.rawValue) loss needs --reference or ref_chosen_logps/ref_rejected_logps")
                }
                rv[2 * k] = c; rv[2 * k + 1] = r
            }
        }
        return pairs.enumerated().map { k, p in
            let v = lossFunction.evaluate(PairLogps(policyChosen: pv[2 * k], policyRejected: pv[2 * k + 1], refChosen: rv[2 * k],
                                                    refRejected: rv[2 * k + 1], chosenLength: p.chosen.count,
                                                    rejectedLength: p.rejected.count, weight: p.weight))
            return "{\"policy_chosen_logps\": \(pv[2 * k]), \"policy_rejected_logps\": \(pv[2 * k + 1]), "
                + "\"ref_chosen_logps\": \(rv[2 * k]), \"ref_rejected_logps\": \(rv[2 * k + 1]), \"loss\": \(v.loss)}"
        }
    }

    public struct TrainOptions: Sendable {
        public var model: String
        public var pairs: String
        public var output: String?
        public var metrics: String?
        public var setup: PreferenceSetup
        public var epochs = 1
        public var batchSize = 8
        public var schedule: LearningRateSchedule.Kind = .cosine
        public var warmupSteps = 0
        public init(model: String, pairs: String, setup: PreferenceSetup) { self.model = model; self.pairs = pairs; self.setup = setup }
    }

    /// Trains the model on a pair file (reference log-probs computed once, sharded, when the file lacks
    /// them), printing one metrics line per step; saves the model when asked.
    public static func train(_ o: TrainOptions, cluster: Cluster, logger: Logger) throws -> [PreferenceStepMetrics] {
        let loaded = try cluster.load(o.model)
        var pairs = try tokenize(try RecordFile.read(PairRecord.self, from: o.pairs), tokenizer: loaded.tokenizer, file: o.pairs)
        try check(pairs, vocab: loaded.model.config.vocabSize, context: loaded.model.config.maxPositions, file: o.pairs)
        guard !pairs.isEmpty else { throw PipelineError("\(o.pairs): no pairs") }
        guard o.batchSize >= 1, o.epochs >= 1 else { throw PipelineError("--batch-size and --epochs must be at least 1") }
        let lossFunction = PreferenceLosses.make(o.setup.loss, o.setup.settings)
        if lossFunction.usesReference && pairs.contains(where: { $0.refChosen == nil || $0.refRejected == nil }) {
            logger.info("preference-train: computing reference log-probs for \(pairs.count) pairs with the starting model")
            try cluster.fillReference(&pairs, model: loaded.model)
        }
        let trainer = try cluster.preferenceTrainer(o.setup, model: loaded.model)
        let stepsPerEpoch = (pairs.count + o.batchSize - 1) / o.batchSize
        let total = stepsPerEpoch * o.epochs
        let schedule = LearningRateSchedule(kind: o.schedule, peak: o.setup.adamW.learningRate, warmupSteps: o.warmupSteps,
                                            totalSteps: total, minRatio: 0)
        var all: [PreferenceStepMetrics] = []
        var lines: [String] = []
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for step in 1...total {
            let s = (step - 1) % stepsPerEpoch
            let batch = Array(pairs[(s * o.batchSize)..<min(pairs.count, (s + 1) * o.batchSize)])
            let lr = schedule.rate(at: step)
            let m = try trainer.step(batch, lr: lr)
            if trainer.trainer.lastUpdateSkipped {
                throw PipelineError("preference-train: step \(step) of \(total) (pairs \(s * o.batchSize + 1)-\(s * o.batchSize + batch.count) of \(o.pairs)) has a non-finite loss or gradient (loss \(m.loss), grad_norm \(m.gradNorm)); the weights were not updated, training stops and no model is saved. A lower --lr may help.")
            }
            all.append(m)
            let line = String(decoding: try encoder.encode(m), as: UTF8.self)
            lines.append(line)
            print(line)
        }
        if let path = o.metrics { try RecordFile.atomicWrite(Data((lines.joined(separator: "\n") + "\n").utf8), to: path) }
        if let dir = o.output {
            try Checkpoint.save(loaded.model, tokenizer: loaded.tokenizer, to: URL(fileURLWithPath: dir))
            logger.info("preference-train: saved to \(dir)")
        }
        return all
    }
}
