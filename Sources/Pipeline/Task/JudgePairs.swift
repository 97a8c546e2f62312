import Alignment
import Foundation
import Generation
import Kernels
import Logging
import Model
import Tokenizer

/// A preference pair whose better response is known by construction (`chosen`), for measuring a judge.
public struct LabelledPair: Codable, Sendable, Equatable {
    public var id: String
    public var prompt: String
    public var chosen: String
    public var rejected: String
    public init(id: String, prompt: String, chosen: String, rejected: String) {
        self.id = id; self.prompt = prompt; self.chosen = chosen; self.rejected = rejected
    }
}

/// Known-label judge pairs from the built-in arithmetic task: a problem's worked solution against the
/// same solution with one arithmetic slip, carried through every later step to a wrong final answer.
public enum ArithmeticJudgePairs {
    struct Step { var from: Int, op: String, value: Int, to: Int }

    /// The steps of a built-in solution ("12+5=17 17-3=14\n#### 14").
    static func steps(_ solution: String) -> [Step] {
        let body = solution.components(separatedBy: "\n").first ?? ""
        return body.split(separator: " ").compactMap { token -> Step? in
            let parts = token.split(separator: "=")
            guard parts.count == 2, let to = Int(parts[1]) else { return nil }
            let lhs = String(parts[0])
            guard let opIndex = lhs.dropFirst().firstIndex(where: { "+-*".contains($0) }),
                  let a = Int(lhs[..<opIndex]), let b = Int(lhs[lhs.index(after: opIndex)...]) else { return nil }
            return Step(from: a, op: String(lhs[opIndex]), value: b, to: to)
        }
    }

    static func apply(_ a: Int, _ op: String, _ b: Int) -> Int { op == "+" ? a + b : op == "-" ? a - b : a * b }

    /// The solution written out in words, ending in "#### N" as the task's answers do.
    static func render(_ problem: Problem, _ steps: [Step]) -> String {
        let words = problem.question.split(separator: " ")
        let name = words.first.map(String.init) ?? "They"
        let item = words.count > 3 ? String(words[3]).trimmingCharacters(in: .punctuationCharacters) : "items"
        var lines = ["\(name) starts with \(steps.first?.from ?? 0) \(item)."]
        for s in steps { lines.append("\(s.from) \(s.op) \(s.value) = \(s.to).") }
        let final = steps.last?.to ?? 0
        lines.append("So \(name) has \(final) \(item) now.\n#### \(final)")
        return lines.joined(separator: " ")
    }

    /// The pair for one problem, or nil when no slip tried changes the final answer (a later "* 0")
    /// without driving a count below zero.
    public static func pair(for problem: Problem, rng: inout RandomStream) -> LabelledPair? {
        let good = steps(problem.solution)
        guard !good.isEmpty else { return nil }
        for _ in 0..<8 {
            let at = rng.int(below: good.count)
            let delta = (1 + rng.int(below: 9)) * (rng.int(below: 2) == 0 ? 1 : -1)
            var bad = good
            bad[at].to = good[at].to + delta
            for k in (at + 1)..<bad.count {
                bad[k].from = bad[k - 1].to
                bad[k].to = apply(bad[k].from, bad[k].op, bad[k].value)
            }
            // A count never goes below zero in the task's stories, and the slip must change the answer.
            guard bad.allSatisfy({ $0.to >= 0 }), bad.last!.to != good.last!.to else { continue }
            return LabelledPair(id: problem.id, prompt: problem.question, chosen: render(problem, good), rejected: render(problem, bad))
        }
        return nil
    }

    /// `count` pairs from the task's evaluation split (so they never overlap its training questions).
    public static func make(count: Int, task: ArithmeticTask = ArithmeticTask(), seed: UInt64 = 0) -> [LabelledPair] {
        var out: [LabelledPair] = []
        var index = 0
        while out.count < count {
            var rng = RandomStream(key: seed, StreamTag.judgePairSlips.rawValue, UInt64(index))
            if let p = pair(for: task.problem(index, split: .evaluation), rng: &rng) { out.append(p) }
            index += 1
        }
        return out
    }

    /// Writes `make(count:task:seed:)` to `path` (atomically) as JSON Lines.
    public static func write(count: Int, seed: UInt64, to path: String) throws {
        guard count >= 1 else { throw PipelineError("--count must be at least 1") }
        var task = ArithmeticTask()
        task.seed = seed
        let text = make(count: count, task: task, seed: seed).map(line).joined(separator: "\n") + "\n"
        try AtomicFile.write(Data(text.utf8), to: URL(fileURLWithPath: path))
    }

    public static func line(_ p: LabelledPair) -> String {
        "{\"id\": \(JSONLines.quote(p.id)), \"prompt\": \(JSONLines.quote(p.prompt)), \"chosen\": \(JSONLines.quote(p.chosen)), "
            + "\"rejected\": \(JSONLines.quote(p.rejected))}"
    }

    /// Reads `{"prompt", "chosen", "rejected"}` lines (optional "id"); errors name the file and line.
    public static func read(_ path: String) throws -> [LabelledPair] {
        try JSONLines.read(path).map { line, v in
            guard let p = v["prompt"]?.string, let c = v["chosen"]?.string, let r = v["rejected"]?.string else {
                throw PipelineError("\(path):\(line): expected {\"prompt\": ..., \"chosen\": ..., \"rejected\": ...} (chosen is the better response)")
            }
            return LabelledPair(id: v["id"]?.string ?? "\(line)", prompt: p, chosen: c, rejected: r)
        }
    }
}
