import Alignment
import Distributed
import Foundation
import Generation
import Kernels
import Model
import Tokenizer

/// The metrics file of one folder of the run: one JSON line per training step and per phase. Lines are
/// kept in memory and the file rewritten atomically when a unit completes, so a resumed run never has
/// lines from work it redoes.
final class MetricsLog {
    let url: URL
    let key: String
    var lines: [String]
    init(url: URL, key: String, keep: Int) {
        self.url = url
        self.key = key
        let existing = (try? String(contentsOf: url, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        lines = Array(existing.prefix(keep))
    }
    func append(_ fields: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
        lines.append(String(decoding: data, as: UTF8.self))
    }
    func flush(state: inout RunState) throws {
        try AtomicFile.write(Data((lines.joined(separator: "\n") + (lines.isEmpty ? "" : "\n")).utf8), to: url)
        state.metricsLines[key] = lines.count
    }
}

extension Scheduler {
    func metrics(_ folder: String) -> MetricsLog {
        if let m = logs[folder] { return m }
        let m = MetricsLog(url: dir.appendingPathComponent("\(folder)/metrics.jsonl"), key: folder, keep: state.metricsLines[folder] ?? 0)
        logs[folder] = m
        return m
    }

    // MARK: generation, judging, pairs

    /// The training questions of a round: a slice of the training split that moves on each round (of the
    /// problems after the first `sft_size` when there are any).
    func questions(round: Int, count: Int) -> [Problem] {
        let pool = config.data.sftSize < train.count && !config.data.isJudgePairs ? Array(train[config.data.sftSize...]) : train
        return (0..<count).map { pool[((round - 1) * count + $0) % pool.count] }
    }

    func generatePhase(_ c: GenerateConfig, key: String, round: Int, folder: String) throws {
        var qs = questions(round: round, count: c.questions)
        if c.source != "task" {
            let synthesized = Array(try synthesizedProblems(upTo: folder).prefix(c.questions))
            if !synthesized.isEmpty {
                qs = synthesized
                logger.info("\(key): \(qs.count) synthesized questions")
            } else if c.source == "synthesized" {
                throw PipelineError("\(key): generate.source is synthesized, but no synthesize phase up to this round kept a question")
            } else {
                logger.info("\(key): no synthesized questions yet; \(qs.count) questions of the task")
            }
        }
        // The writer: the policy, or (distillation) a teacher model loaded on every rank for this phase.
        var writer = (model: model, tokenizer: tokenizer, template: config.data.template)
        if let path = c.teacher {
            let teacher = try loadOnAllRanks(path, role: "teacher model")
            writer = (teacher.model, teacher.tokenizer, c.teacherTemplate ?? config.data.template)
            logger.info("\(key): the teacher \(path) writes the outputs (\(writer.template) prompts)")
        }
        let requests = qs.enumerated().flatMap { i, p in
            let prompt = promptIds(p, template: writer.template, tokenizer: writer.tokenizer)
            return (0..<c.samples).map { GenerationRequest(promptIndex: i, sampleIndex: $0, prompt: prompt) }
        }
        var params = SamplingParameters()
        params.temperature = c.temperature; params.topP = c.topP; params.topK = c.topK; params.maxNewTokens = c.maxNewTokens; params.stop = c.stop
        params.seed = config.seed; params.round = UInt64(round); params.truncatePrompts = true
        let partial = dir.appendingPathComponent("\(folder)/generations.partial")
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true)
        var completed: [Int: [GenerationResult]] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: partial.path)) ?? [] where name.hasPrefix("chunk-") && name.hasSuffix(".json") {
            if let c = Int(name.dropFirst(6).dropLast(5)), let data = FileManager.default.contents(atPath: partial.appendingPathComponent(name).path) {
                completed[c] = try JSONDecoder().decode([GenerationResult].self, from: data)
            }
        }
        if !completed.isEmpty { logger.info("\(key): \(completed.count) chunk(s) already generated") }
        let progress = Progress(key, total: requests.count, logger: logger)
        progress.advance(completed.values.reduce(0) { $0 + $1.count })
        let results = try cluster.generate(requests, params: params, batchSize: c.batchSize, chunkSize: c.batchSize,
                                           local: Generator(model: writer.model, tokenizer: writer.tokenizer, batchSize: c.batchSize),
                                           onFinish: { _ in progress.advance() }, completed: completed) { chunk, rs in
            try AtomicFile.write(try JSONEncoder().encode(rs), to: partial.appendingPathComponent(String(format: "chunk-%06d.json", chunk)))
            KillSwitch.point("\(key)/chunk/\(chunk)")
        }
        if c.teacher != nil { try restoreWorkers() }
        let records = results.map { r in
            GenerationRecord(promptId: qs[r.promptIndex].id, sampleIndex: r.sampleIndex, text: r.text, tokenIds: r.tokens,
                             logprob: r.logprob, finishReason: r.finishReason)
        }
        try RecordFile.write(records, to: dir.appendingPathComponent("\(folder)/generations.jsonl").path)
        try? FileManager.default.removeItem(at: partial)
        let lengths = results.map { Double($0.tokens.count) }
        try metrics(folder).append(["phase": "generate", "samples": results.count, "mean_length": Statistics.meanAndSD(lengths).mean])
    }

    func groups(_ records: [GenerationRecord]) -> [(id: String, items: [GenerationRecord])] {
        var order: [String] = [], byId: [String: [GenerationRecord]] = [:]
        for r in records {
            if byId[r.promptId] == nil { order.append(r.promptId) }
            byId[r.promptId, default: []].append(r)
        }
        return order.map { ($0, byId[$0]!) }
    }

    /// The problems a folder's records may name: the training split and the questions synthesized for it.
    func problemsById(_ folder: String) throws -> [String: Problem] {
        Dictionary((train + (try synthesizedProblems(upTo: folder))).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    }

    func judgePhase(_ c: JudgeConfig, key: String, round: Int, folder: String) throws {
        let gens = try RecordFile.read(GenerationRecord.self, from: dir.appendingPathComponent("\(folder)/generations.jsonl").path)
        if c.kind == "llm_pointwise" { return try pointwiseJudgePhase(c, gens: gens, round: round, folder: folder) }
        let problems = try problemsById(folder)
        var out: [JudgmentRecord] = []
        let grouped = groups(gens)
        let progress = Progress(key, total: grouped.count, logger: logger)
        for (id, items) in grouped {
            defer { progress.advance() }
            if c.kind == "verifiable" {
                guard let p = problems[id] else { throw PipelineError("\(folder)/generations.jsonl: unknown prompt id \(id)") }
                for g in items {
                    let answer = extractAnswer(g.text)
                    let ok = isCorrect(g.text, p)
                    out.append(JudgmentRecord(promptId: id, sampleIndex: g.sampleIndex, score: ok ? 1 : 0, verdict: ok ? "correct" : "incorrect",
                                              raw: answer ?? "", parsed: answer != nil))
                }
            } else {
                let votes = SelfConsistency.votes(items.map(\.text))
                for (g, v) in zip(items, votes) {
                    let answer = VerifiableJudge.extractAnswer(g.text)
                    out.append(JudgmentRecord(promptId: id, sampleIndex: g.sampleIndex, votes: v, raw: answer ?? "", parsed: answer != nil))
                }
            }
        }
        try RecordFile.write(out, to: dir.appendingPathComponent("\(folder)/judgments.jsonl").path)
        let scored = out.compactMap(\.score)
        try metrics(folder).append(["phase": "judge", "judgments": out.count, "unparsed": out.filter { !$0.parsed }.count,
                                    "fraction_correct": scored.isEmpty ? 0 : scored.reduce(0, +) / Double(scored.count)])
    }

    /// Self-Rewarding's judge: the policy scores every response `judgments` times with the additive
    /// 5-point rubric (sampled, sharded over the ranks like generation); the parseable scores are averaged.
    /// A response none of whose judgments parse has no score (and gets into no pair); the count is reported.
    func pointwiseJudgePhase(_ c: JudgeConfig, gens: [GenerationRecord], round: Int, folder: String) throws {
        let problems = try problemsById(folder)
        var templates = JudgeTemplates()
        if let path = c.rubric { templates.pointwise = try String(contentsOfFile: path, encoding: .utf8) }
        // With the thought template the judge sees only the response part; outputs without one are not judged.
        let shown = gens.map { answerPart($0.text) }
        let items = try zip(gens, shown).compactMap { g, response -> (instruction: String, response: String)? in
            guard let p = problems[g.promptId] else { throw PipelineError("\(folder)/generations.jsonl: unknown prompt id \(g.promptId)") }
            return response.map { (p.question, $0) }
        }
        var params = SamplingParameters()
        params.temperature = c.temperature; params.maxNewTokens = c.maxNewTokens; params.truncatePrompts = true
        params.seed = config.seed ^ 0x1D6E; params.round = UInt64(round)
        let service = completions(batchSize: c.batchSize, progress: "judge")
        logger.info("judge: \(items.count) responses x \(c.judgments) judgments by the policy")
        var results = try PointwiseJudge(templates: templates, judgments: c.judgments, params: params).judge(items, with: service)[...]
        let out = zip(gens, shown).map { g, response -> JudgmentRecord in
            guard let response else {
                return JudgmentRecord(promptId: g.promptId, sampleIndex: g.sampleIndex, verdict: "no_response", raw: "", parsed: false)
            }
            let r = results.removeFirst()
            return JudgmentRecord(promptId: g.promptId, sampleIndex: g.sampleIndex, score: r.score, raw: r.raw.joined(separator: "\n---\n"),
                                  parsed: r.score != nil, judgeTexts: r.raw, judgeScores: r.scores,
                                  judgedResponse: config.data.thought ? response : nil)
        }
        let judged = out.filter { $0.verdict != "no_response" }
        try RecordFile.write(out, to: dir.appendingPathComponent("\(folder)/judgments.jsonl").path)
        let scores = out.compactMap(\.score)
        let unparsedJudgments = judged.reduce(0) { $0 + ($1.judgeScores ?? []).filter { $0 == nil }.count }
        try metrics(folder).append(["phase": "judge", "judgments": judged.count * c.judgments, "unparsed_judgments": unparsedJudgments,
                                    "unscored_responses": out.count - scores.count, "outputs_without_response": out.count - judged.count,
                                    "mean_score": scores.isEmpty ? 0 : scores.reduce(0, +) / Double(scores.count)])
        if c.metaJudge {
            try metaJudgePhase(c, gens: gens, judgments: out, problems: problems, templates: templates, service: service, round: round, folder: folder)
        }
        if judged.count < out.count { logger.info("judge: \(out.count - judged.count) of \(out.count) outputs have no response part and are not judged") }
        logger.info("judge: \(unparsedJudgments) of \(judged.count * c.judgments) judgments unparseable; \(scores.count) of \(out.count) responses scored")
    }

    func pairsPhase(_ c: PairsConfig, key: String, round: Int, folder: String) throws {
        let gens = try RecordFile.read(GenerationRecord.self, from: dir.appendingPathComponent("\(folder)/generations.jsonl").path)
        let judgments = try RecordFile.read(JudgmentRecord.self, from: dir.appendingPathComponent("\(folder)/judgments.jsonl").path)
        var judged: [String: JudgmentRecord] = [:]
        for j in judgments { judged["\(j.promptId)#\(j.sampleIndex)"] = j }
        let problems = try problemsById(folder)
        var pairs: [TokenizedPair] = [], records: [PairRecord] = []
        var ripItems: [RIPFilter.Item] = []
        let grouped = groups(gens)
        let candidatesOf = grouped.map { id, items in
            items.map { r -> Candidate in
                let j = judged["\(id)#\(r.sampleIndex)"]
                return Candidate(sampleIndex: r.sampleIndex, text: r.text, score: j?.score, correct: j?.score.map { $0 > 0 }, votes: j?.votes,
                                 length: r.tokenIds.count, parseable: j?.verdict != "no_response")
            }
        }
        let thoughtPairs = c.kind == "tpo" ? ThoughtPairs.select(candidatesOf, rho: c.rho, maxUnparsedFraction: c.maxUnparsedFraction) : []
        for (g, (id, items)) in grouped.enumerated() {
            guard let p = problems[id] else { continue }
            let candidates = candidatesOf[g]
            var prefs: [Preference] = []
            switch c.kind {
            case "tpo": prefs = thoughtPairs[g].map { [$0] } ?? []
            case "correct_vs_incorrect":
                var rng = RandomStream(key: config.seed, UInt64(round), UInt64(g), 0xC0)
                prefs = PairBuilders.correctVsIncorrect(candidates, maxPairs: c.maxPairs, rng: &rng)
            case "best_vs_worst": prefs = PairBuilders.bestVsWorst(candidates).map { [$0] } ?? []
            case "length_controlled": prefs = PairBuilders.lengthControlled(candidates, rho: c.rho).map { [$0] } ?? []
            default: prefs = PairBuilders.selfConsistency(candidates, tau: c.tau).map { [$0] } ?? []
            }
            let prompt = promptIds(p)
            for pref in prefs {
                let cg = items[pref.chosen], rg = items[pref.rejected]
                let cIds = cg.tokenIds + (cg.finishReason == "stop" ? [eos] : [])
                let rIds = rg.tokenIds + (rg.finishReason == "stop" ? [eos] : [])
                guard !cIds.isEmpty, !rIds.isEmpty else { continue }
                // A prompt that does not fit with its completions keeps its last tokens, as generation does.
                let room = model.config.maxPositions - max(cIds.count, rIds.count)
                guard room > 0 else { continue }
                func fitted(_ ids: [Int32]) -> [Int32] { ids.count > room ? Array(ids.suffix(room)) : ids }
                let prompt = fitted(prompt)
                pairs.append(TokenizedPair(prompt: prompt, chosen: cIds, rejected: rIds, weight: pref.weight))
                ripItems.append(RIPFilter.Item(rejectedReward: candidates[pref.rejected].score ?? 0, rejectedLength: Double(rg.tokenIds.count),
                                               chosenReward: candidates[pref.chosen].score ?? 0))
                records.append(PairRecord(promptId: id, prompt: promptText(p), chosen: cg.text, rejected: rg.text, weight: pref.weight,
                                          promptIds: prompt, chosenIds: cIds, rejectedIds: rIds))
                if let lift = c.lift {
                    for a in lift.augment(instruction: p.question, chosen: cg.text, rejected: rg.text) {
                        var wrapped = p
                        wrapped.question = a.prompt
                        let wp = fitted(promptIds(wrapped))
                        let (wc, wr) = a.chosen == cg.text ? (cIds, rIds) : (rIds, cIds)
                        pairs.append(TokenizedPair(prompt: wp, chosen: wc, rejected: wr, weight: pref.weight))
                        records.append(PairRecord(promptId: id, prompt: promptText(wrapped), chosen: a.chosen, rejected: a.rejected, weight: pref.weight,
                                                  promptIds: wp, chosenIds: wc, rejectedIds: wr))
                    }
                }
            }
        }
        var filtered: [String: Any] = [:]
        if c.kind == "tpo" {
            filtered["unparsed_rejected"] = zip(thoughtPairs, candidatesOf).filter { pref, cs in pref.map { !cs[$0.rejected].parseable } ?? false }.count
        }
        if let rip = c.rip {
            let kept = rip.keep(ripItems)
            filtered = ["pairs_before_filter": pairs.count, "rip_kept": kept.count]
            logger.info("pairs: RIP keeps \(kept.count) of \(pairs.count) pairs")
            pairs = kept.map { pairs[$0] }; records = kept.map { records[$0] }
        }
        let metaFile = dir.appendingPathComponent("\(folder)/meta_judgments.jsonl")
        if FileManager.default.fileExists(atPath: metaFile.path) {
            let judgePairs = try self.judgePairs(try RecordFile.read(MetaJudgmentRecord.self, from: metaFile.path))
            filtered["judge_pairs"] = judgePairs.records.count
            if !judgePairs.records.isEmpty { logger.info("pairs: \(judgePairs.records.count) judge pairs join the actor pairs") }
            pairs += judgePairs.pairs; records += judgePairs.records
        }
        if !pairs.isEmpty {
            if c.reference == "initial", let current = state.model {
                try loadStartModel()
                try cluster.fillReference(&pairs, model: model)
                try loadModel(current)
            } else {
                try cluster.fillReference(&pairs, model: model)
            }
        }
        for k in records.indices { records[k].refChosenLogps = pairs[k].refChosen; records[k].refRejectedLogps = pairs[k].refRejected }
        try RecordFile.write(records, to: dir.appendingPathComponent("\(folder)/pairs.jsonl").path)
        try metrics(folder).append(["phase": "pairs", "pairs": records.count, "prompts_with_pairs": Set(records.compactMap(\.promptId)).count]
                                   .merging(filtered) { a, _ in a })
    }

    // MARK: evaluation and the control arm

    /// Greedy answers to `problems`, judged against their answers.
    func greedyAnswers(_ problems: [Problem], maxNewTokens: Int? = nil) throws -> [GenerationResult] {
        var params = SamplingParameters()
        params.temperature = 0; params.maxNewTokens = maxNewTokens ?? config.evaluation.maxNewTokens; params.truncatePrompts = true
        params.seed = config.seed
        let requests = problems.enumerated().map { GenerationRequest(promptIndex: $0.offset, sampleIndex: 0, prompt: promptIds($0.element)) }
        return try cluster.generate(requests, params: params, batchSize: config.evaluation.batchSize, chunkSize: config.evaluation.batchSize,
                                    local: Generator(model: model, tokenizer: tokenizer, batchSize: config.evaluation.batchSize))
    }

    func accuracy(on problems: [Problem], label: String) throws -> EvaluationResult {
        let results = try greedyAnswers(problems)
        return EvaluationResult(label: label, correct: zip(results, problems).map { isCorrect($0.text, $1) },
                                lengths: results.map { $0.tokens.count })
    }

    func evaluatePhase(key: String, folder: String, label: String) throws -> EvaluationResult {
        let url = dir.appendingPathComponent("\(folder)/evaluation.json")
        if isDone(key), let data = FileManager.default.contents(atPath: url.path) {
            return try JSONDecoder().decode(EvaluationResult.self, from: data)
        }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent(folder), withIntermediateDirectories: true)
        let t0 = Date()
        var result = try accuracy(on: evaluation, label: label)
        var lift: [String: Any] = [:]
        if config.evaluation.lengthLimit > 0 {
            // LIFT: the same questions with a word limit; an answer over the limit counts as wrong.
            let limit = config.evaluation.lengthLimit
            let wrapped = evaluation.map { p -> Problem in var q = p; q.question = LengthInstructions().wrap(p.question, limit: limit); return q }
            let answers = try greedyAnswers(wrapped)
            result.lengthLimit = limit
            let within = answers.map { LengthInstructions.complies($0.text, limit: limit) }
            result.withinLimit = within
            result.correctWithinLimit = answers.indices.map { within[$0] && isCorrect(answers[$0].text, wrapped[$0]) }
            lift = ["length_limit": limit, "length_compliance": result.compliance!, "accuracy_within_limit": result.accuracyWithinLimit!]
            logger.info("\(String(format: "%@: with a %d-word limit, %.1f%% of answers keep to it; accuracy counting the others wrong %.1f%%", label, limit, 100 * result.compliance!, 100 * result.accuracyWithinLimit!))")
        }
        if let j = try judgeAccuracy(folder: folder) {
            result.judgeAccuracy = j
            lift["judge_accuracy"] = j.accuracy
            lift["judge_accuracy_ci95"] = [j.interval.low, j.interval.high]
            lift["judge_single_order_accuracy"] = j.singleAccuracy
            logger.info("\(label): judge accuracy \(j.text) on \(j.pairs) labelled pairs (both orders), single-order \(String(format: "%.1f%%", 100 * j.singleAccuracy)), \(j.unparsed) unparsed")
        }
        if let w = try winRate(folder: folder) {
            result.winRate = w
            lift["win_rate"] = w.rate ?? NSNull()
            lift["win_rate_ci95"] = [w.low, w.high]
            lift["win_rate_counts"] = ["wins": w.wins, "losses": w.losses, "ties": w.ties, "unparsed": w.unparsed]
            logger.info("\(label): judged win rate against \(w.against) \(w.text): \(w.wins) wins, \(w.losses) losses, \(w.ties) ties, \(w.unparsed) unparsed")
        }
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        try AtomicFile.write(try e.encode(result), to: url)
        try metrics(folder).append(["phase": "evaluate", "label": label, "accuracy": result.accuracy, "ci95_low": result.interval.low,
                                    "ci95_high": result.interval.high, "mean_length": result.meanLength, "seconds": Date().timeIntervalSince(t0)]
                                   .merging(lift) { a, _ in a })
        try metrics(folder).flush(state: &state)
        try complete(key)
        logger.info("\(String(format: "%@: accuracy %.1f%% (95%% CI %.1f-%.1f) on %d problems", label, 100 * result.accuracy, 100 * result.interval.low, 100 * result.interval.high, result.correct.count))")
        return result
    }

    /// The same training tokens as the rounds' preference training, spent on more SFT of the gold solutions
    /// from the SFT model (with the rounds' learning-rate settings), then evaluated. Its model is saved at
    /// control/model but does not become the run's model.
    func controlArm() throws -> EvaluationResult {
        let key = "control", folder = "control"
        if !isDone(key) {
            guard state.done.contains(where: { $0.hasPrefix("initial-") && $0.hasSuffix("-sft") }) else {
                throw PipelineError("the control arm needs an SFT phase in schedule.initial")
            }
            try loadModel("initial/model")
            let budget = state.trainingTokens.filter { $0.key.hasPrefix("round-") }.values.reduce(0, +)
            let sft = config.initial.compactMap { if case .sft(let c) = $0 { return c } else { return nil } }.first!
            let trainConfig = config.rounds.last!.compactMap { if case .train(let c) = $0 { return c } else { return nil } }.first
            let perStep = Double(sftBatch(step: 1, size: sft.batchSize, tag: 0xC7, lr: 0).ids.reduce(0) { $0 + $1.count })
            let steps = max(1, Int((budget / perStep).rounded(.up)))
            let lr = trainConfig?.learningRate ?? sft.learningRate
            logger.info("control: \(steps) SFT steps (\(Int(budget)) training tokens, as in the rounds) from the SFT model at lr \(lr)")
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(folder), withIntermediateDirectories: true)
            let schedule = LearningRateSchedule(kind: trainConfig?.schedule ?? .cosine, peak: lr, warmupSteps: min(trainConfig?.warmup ?? 0, steps - 1),
                                                totalSteps: steps, minRatio: 0)
            try supervised(key: key, folder: folder, makesCurrent: false, steps: steps, batchSize: sft.batchSize,
                           adamW: AdamWSettings(learningRate: lr), maxGradNorm: trainConfig?.maxGradNorm ?? 1, schedule: schedule,
                           checkpointEvery: sft.checkpointEvery, plateau: nil, streamTag: 0xC7)
            try complete(key)
        } else if !isDone("control-evaluate") {
            // Resumed between the two: the model to evaluate is the control's, not the run's current one.
            try loadModel("\(folder)/model")
        }
        return try evaluatePhase(key: "control-evaluate", folder: folder, label: "control (SFT, same compute)")
    }
}
