import Alignment
import Foundation

/// The questions of a run, read once from `data` (and checked by `autodidact validate` too): the training,
/// validation and evaluation splits, and with data.task judge_pairs the labelled pairs the rounds draw from.
public struct TaskData {
    public var train: [Problem], validation: [Problem], evaluation: [Problem]
    /// With data.task judge_pairs: the labelled pairs of the rounds (the held-out ones excluded).
    public var labelledPairs: [LabelledPair] = []

    public static func load(_ data: DataConfig) throws -> TaskData {
        switch data.task {
        case .arithmetic(let task):
            return TaskData(train: task.problems(0..<data.trainSize, split: .train),
                            validation: task.problems(0..<data.validationSize, split: .validation),
                            evaluation: task.problems(0..<data.evalSize, split: .evaluation))
        case .file(let trainFile, let evalFile):
            let all = try GSM8KFile.read(trainFile)
            guard all.count > data.validationSize else {
                throw PipelineError("\(trainFile): \(all.count) problems; data.validation_size \(data.validationSize) needs at least one more")
            }
            let evaluation = try GSM8KFile.read(evalFile)
            guard evaluation.count >= data.evalSize else {
                throw PipelineError("\(evalFile): \(evaluation.count) problems, fewer than data.eval_size \(data.evalSize)")
            }
            return TaskData(train: Array(all.dropLast(data.validationSize).prefix(data.trainSize)), validation: Array(all.suffix(data.validationSize)),
                            evaluation: Array(evaluation.prefix(data.evalSize)))
        case .judgePairs(let file):
            let all = try ArithmeticJudgePairs.read(file)
            guard all.count > data.evalSize else { throw PipelineError("\(file): \(all.count) pairs; data.eval_size needs at least one more") }
            let pairs = Array(all.dropLast(data.evalSize).prefix(data.trainSize))
            var d = TaskData(train: judgeQuestions(pairs), validation: [], evaluation: judgeQuestions(all.suffix(data.evalSize)))
            d.labelledPairs = pairs
            return d
        }
    }

    /// Each labelled pair as two questions: the pairwise judge prompt with the better response first
    /// (id "<pair>/AB", answer "A") and second ("<pair>/BA", answer "B").
    static func judgeQuestions<C: Collection>(_ pairs: C) -> [Problem] where C.Element == LabelledPair {
        let t = JudgeTemplates()
        return pairs.flatMap { p in
            [Problem(id: "\(p.id)/AB", question: t.fillPairwise(instruction: p.prompt, a: p.chosen, b: p.rejected), solution: "", answer: "A"),
             Problem(id: "\(p.id)/BA", question: t.fillPairwise(instruction: p.prompt, a: p.rejected, b: p.chosen), solution: "", answer: "B")]
        }
    }
}

extension RunConfig {
    /// Reads every data file the run will read (task, evaluation prompts and pairs, seed prompts) and checks
    /// that each holds what its counts ask for, so that `validate` catches a bad line or a short file.
    public func checkData() throws -> TaskData {
        let task = try TaskData.load(data)
        if let f = evaluation.winRatePrompts {
            let n = try RecordFile.read(PromptRecord.self, from: f).count
            guard n >= evaluation.winRateCount else { throw PipelineError("\(f): \(n) prompts, fewer than evaluation.win_rate_count \(evaluation.winRateCount)") }
        }
        if let f = evaluation.judgeAccuracyPairs {
            let n = try ArithmeticJudgePairs.read(f).count
            guard n >= evaluation.judgeAccuracyCount else {
                throw PipelineError("\(f): \(n) pairs, fewer than evaluation.judge_accuracy_count \(evaluation.judgeAccuracyCount)")
            }
        }
        for case .synthesize(let s) in rounds.flatMap({ $0 }) {
            if case .seedFile(let f) = s.source { _ = try RecordFile.read(PromptRecord.self, from: f) }
        }
        return task
    }
}
