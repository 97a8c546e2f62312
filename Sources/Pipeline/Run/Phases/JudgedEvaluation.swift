import Alignment
import Cluster
import Model
import Foundation
import Generation
import Tokenizer

extension RunContext {
    /// The win-rate prompts: the last `win_rate_count` of the file (none when win rates are off).
    func winRatePrompts() throws -> [PromptRecord] {
        guard let file = config.evaluation.winRatePrompts else { return [] }
        return Array(try RecordFile.read(PromptRecord.self, from: file).suffix(config.evaluation.winRateCount))
    }

    /// The folder of the evaluation before `folder`'s: the start's for round 1, the previous round's after,
    /// the last round's for the control.
    func previousEvaluationFolder(_ folder: RoundFolder) -> RoundFolder? {
        if folder == controlFolder { return round(config.rounds.count) }
        guard let r = folder.round else { return nil }
        return r == 1 ? initialFolder : round(r - 1)
    }

    /// Answers the win-rate prompts with the current model into `win_rate_responses.jsonl`, then judges them
    /// against the previous evaluation's answers in both orders (this model's answer first, then second)
    /// with the judge model, loaded on every rank for the purpose. Nil when win rates are off or there is
    /// no previous evaluation.
    func winRate(folder: RoundFolder, journal: ChunkJournal? = nil) throws -> WinRate? {
        let prompts = try winRatePrompts()
        guard !prompts.isEmpty else { return nil }
        let limit = config.evaluation.lengthLimit
        let problems = prompts.map { p in
            Problem(id: p.id, question: limit > 0 ? LengthInstructions().wrap(p.prompt, limit: limit) : p.prompt, solution: "", answer: "")
        }
        let answers = try greedyAnswers(problems, maxNewTokens: config.evaluation.winRateMaxNewTokens, journal: journal)
        let records = zip(problems, answers).map { p, a in
            GenerationRecord(promptId: p.id, sampleIndex: 0, text: a.text, tokenIds: a.tokens, logprob: a.logprob, finishReason: a.finishReason)
        }
        try folder.write(records, as: .winRateResponses)
        guard let previous = previousEvaluationFolder(folder) else { return nil }
        let before = try previous.read(.winRateResponses)
        guard before.map(\.promptId) == records.map(\.promptId) else {
            throw PipelineError("\(previous.relative(.winRateResponses)) answers other prompts than evaluation.win_rate_prompts gives now")
        }
        let againstLabel = (try? JSONDecoder().decode(EvaluationResult.self, from: Data(contentsOf: previous.url(.evaluation))))?.label ?? previous.name
        // Over a length limit a response loses without judging.
        var outcomes = [Double?](repeating: nil, count: records.count)
        var judged: [Int] = []
        for k in records.indices {
            if limit > 0 {
                let newOK = LengthInstructions.complies(records[k].text, limit: limit), oldOK = LengthInstructions.complies(before[k].text, limit: limit)
                if !newOK || !oldOK { outcomes[k] = newOK ? 1 : oldOK ? 0 : 0.5; continue }
            }
            judged.append(k)
        }
        if !judged.isEmpty {
            let path: String
            if let j = config.evaluation.winRateJudge { path = j } else if case .path(let p) = config.model { path = p } else {
                throw PipelineError("evaluation.win_rate_judge is needed for a model trained from scratch")
            }
            var params = SamplingParameters.phase(temperature: 0, maxNewTokens: config.evaluation.winRateMaxNewTokens)
            params.seed = config.seed
            let items = judged.map { (instruction: problems[$0].question, first: records[$0].text, second: before[$0].text) }
            let results = try pairwise(items, judgeModel: path, params: params, progress: "win rate", journal: journal)
            for (k, r) in zip(judged, results) {
                switch r.verdict {
                case .first: outcomes[k] = 1
                case .second: outcomes[k] = 0
                case .tie: outcomes[k] = 0.5
                case .unparsed: outcomes[k] = nil
                }
            }
            let lines = zip(judged, results).map { k, r in
                var line: [String: Any] = ["prompt_id": records[k].promptId, "verdict": r.verdict.rawValue, "forward": r.forward ?? "",
                                           "backward": r.backward ?? "", "raw": r.raw]
                if let p = r.probabilityFirst { line["p_first"] = p; line["forward_p_a"] = r.forwardA!; line["backward_p_a"] = r.backwardA! }
                return line
            }
            try folder.writeLines(lines, to: .winRateJudgments)
        }
        return WinRate(against: againstLabel, outcomes: outcomes, seed: config.seed)
    }

    /// The current model judges the last `judge_accuracy_count` labelled pairs in both orders (greedy);
    /// nil when judge accuracy is off. Verdicts go to `judge_accuracy.jsonl`.
    func judgeAccuracy(folder: RoundFolder, journal: ChunkJournal? = nil) throws -> JudgeAccuracyResult? {
        guard let file = config.evaluation.judgeAccuracyPairs else { return nil }
        let pairs = Array(try ArithmeticJudgePairs.read(file).suffix(config.evaluation.judgeAccuracyCount))
        var params = SamplingParameters.phase(temperature: 0, maxNewTokens: config.evaluation.judgeAccuracyMaxNewTokens)
        params.seed = config.seed
        let report = JudgeAccuracy.Report(results: try pairwise(pairs.map { ($0.prompt, $0.chosen, $0.rejected) }, judgeModel: nil,
                                                                params: params, progress: "judge accuracy", journal: journal))
        try JudgeAccuracy.write(pairs, report, to: folder.url(.judgeAccuracy))
        return JudgeAccuracyResult(pairs: report.pairs, correct: report.correct, singleCorrect: report.singleCorrect, ties: report.ties, unparsed: report.unparsed)
    }

    /// With data.task judge_pairs and `evaluation.judge_mode` logprob, the evaluation's verdicts are read
    /// as the LLM judges read theirs: the policy's probabilities of "[[A" and "[[B" right after each
    /// question's prompt; the verdict is the more likely letter (A on a tie). P(A) of each question.
    func verdictProbabilities(_ problems: [Problem]) throws -> [Double] {
        try ForcedVerdicts.letterLogprobs(self, prompts: problems.map { task.promptIds($0) }, written: problems.map { _ in "" },
                                          batchSize: config.evaluation.batchSize).map {
            VerdictDistribution(candidates: ["A", "B"], logprobs: $0).probabilities[0]
        }
    }

    /// Pairwise verdicts in both orders by the policy (or the model at `judgeModel`, borrowed), read from
    /// probabilities or parsed from greedy text as `evaluation.judge_mode` says.
    func pairwise(_ items: [(instruction: String, first: String, second: String)], judgeModel: String?, params: SamplingParameters,
                  progress: String, journal: ChunkJournal? = nil) throws -> [PairwiseJudge.Result] {
        try withJudge(judgeModel, precision: config.evaluation.winRateJudgePrecision, batchSize: config.evaluation.batchSize, progress: progress,
                      journal: journal) { judge in
            switch config.evaluation.judgeMode {
            case .generate: return try PairwiseJudge(params: params).judge(items, with: judge.service)
            case .logprob: return try LogprobPairwiseJudge(tieMargin: config.evaluation.judgeTieMargin).judge(items, scorer: judge.scorer, service: nil)
            }
        }
    }
}
