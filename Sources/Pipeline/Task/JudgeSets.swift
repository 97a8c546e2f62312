import Alignment
import Foundation
import Kernels
import Model

/// Labelled judge pairs made by rule from the built-in arithmetic task, each testing one thing a judge
/// must see, with no calculation needed (unlike the arithmetic slips of `ArithmeticJudgePairs`):
/// - relevance: the question's worked solution against the worked solution of another question;
/// - completeness: the solution against the same solution cut off about half-way (no final answer);
/// - instruction: under "Answer ... using N words or less" (LIFT's wrapper), a one-line answer within the
///   limit against the full worked solution, which is over it;
/// - fluency: the solution against the same words in a shuffled order.
public enum JudgeSets {
    public enum Kind: String, CaseIterable, Sendable { case arithmetic, relevance, completeness, instruction, fluency }

    /// `count` pairs of `kind` from the task's evaluation split (seeded; the same for the same arguments).
    public static func make(_ kind: Kind, count: Int, seed: UInt64 = 0) -> [LabelledPair] {
        var task = ArithmeticTask()
        task.seed = seed
        if kind == .arithmetic { return ArithmeticJudgePairs.make(count: count, task: task, seed: seed) }
        return (0..<count).map { i in
            let p = task.problem(i, split: .evaluation)
            let solution = ArithmeticJudgePairs.render(p, ArithmeticJudgePairs.steps(p.solution))
            var rng = RandomStream(key: seed, StreamTag.judgePairSlips.rawValue, 0x5E7 &+ UInt64(kind.hashIndex), UInt64(i))
            let id = "\(kind.rawValue)-\(i)"
            switch kind {
            case .arithmetic: fatalError("unreachable")
            case .relevance:
                // Another question of the split, never this one.
                let other = task.problem(count + i, split: .evaluation)
                let wrong = ArithmeticJudgePairs.render(other, ArithmeticJudgePairs.steps(other.solution))
                return LabelledPair(id: id, prompt: p.question, chosen: solution, rejected: wrong)
            case .completeness:
                let words = solution.split(separator: " ", omittingEmptySubsequences: false)
                let cut = words.prefix(max(1, words.count / 2)).joined(separator: " ")
                return LabelledPair(id: id, prompt: p.question, chosen: solution, rejected: cut)
            case .instruction:
                let short = "The answer is \(p.answer)."
                let limit = LengthInstructions.words(short) + 4
                return LabelledPair(id: id, prompt: LengthInstructions().wrap(p.question, limit: limit), chosen: short, rejected: solution)
            case .fluency:
                var words = solution.split(whereSeparator: \.isWhitespace).map(String.init)
                let original = words
                while words == original {
                    for k in stride(from: words.count - 1, to: 0, by: -1) { words.swapAt(k, rng.int(below: k + 1)) }
                }
                return LabelledPair(id: id, prompt: p.question, chosen: solution, rejected: words.joined(separator: " "))
            }
        }
    }

    /// Writes `make` to `path` (atomically) as JSON Lines.
    public static func write(_ kind: Kind, count: Int, seed: UInt64, to path: String) throws {
        guard count >= 1 else { throw PipelineError("--count must be at least 1") }
        let text = make(kind, count: count, seed: seed).map(ArithmeticJudgePairs.line).joined(separator: "\n") + "\n"
        try AtomicFile.write(Data(text.utf8), to: URL(fileURLWithPath: path))
    }
}

extension JudgeSets.Kind {
    var hashIndex: Int { JudgeSets.Kind.allCases.firstIndex(of: self)! }
}
