import Alignment
import Foundation
import Kernels

/// A problem with a checkable answer: the question the model sees, a worked solution ending in
/// `#### <answer>`, and the answer.
public struct Problem: Sendable, Equatable {
    public var id: String
    public var question: String
    public var solution: String
    public var answer: String
}

/// The built-in task: multi-step arithmetic word problems with chain-of-thought solutions, generated from
/// a seed. Knobs: operand count, operand range, operations. The training and evaluation splits are
/// disjoint by construction: a problem belongs to the evaluation split exactly when a hash of its numbers
/// and operations is divisible by 10, and each split draws only its own kind.
public struct ArithmeticTask: Sendable, Equatable, Codable {
    public var minOperands = 2
    public var maxOperands = 4
    public var maxValue = 99
    /// "+", "-" and (optionally) "*"
    public var operations = ["+", "-"]
    public var seed: UInt64 = 0
    public init() {}

    public enum Split: UInt64, Sendable { case train = 1, validation = 2, evaluation = 3 }

    static let names = ["Ann", "Ben", "Cal", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kim", "Lou", "Max", "Ned", "Oli", "Pam"]
    static let items = ["apples", "books", "coins", "pens", "cards", "eggs", "nuts", "shells", "stamps", "beads"]

    /// Problem `index` of a split (the validation split is a held-out part of the training distribution).
    public func problem(_ index: Int, split: Split) -> Problem {
        var attempt: UInt64 = 0
        while true {
            var rng = RandomStream(key: seed, split.rawValue, UInt64(index), attempt)
            let n = minOperands + rng.int(below: maxOperands - minOperands + 1)
            var values = [rng.int(below: maxValue + 1)]
            var ops: [String] = []
            var total = values[0]
            for _ in 1..<n {
                let op = operations[rng.int(below: operations.count)]
                var v = rng.int(below: maxValue + 1)
                if op == "-" && v > total { v = rng.int(below: total + 1) }  // never below zero
                if op == "*" { v = rng.int(below: 10) }
                ops.append(op); values.append(v)
                total = op == "+" ? total + v : op == "-" ? total - v : total * v
            }
            let key = values.map(String.init).joined(separator: ",") + ops.joined()
            let inEval = ArithmeticTask.hash(key) % 10 == 0
            if inEval == (split == .evaluation) {
                return render(index: index, split: split, values: values, ops: ops, rng: &rng)
            }
            attempt += 1
        }
    }

    static func hash(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf29ce484222325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        return h
    }

    func render(index: Int, split: Split, values: [Int], ops: [String], rng: inout RandomStream) -> Problem {
        let name = ArithmeticTask.names[rng.int(below: ArithmeticTask.names.count)]
        let item = ArithmeticTask.items[rng.int(below: ArithmeticTask.items.count)]
        var q = "\(name) has \(values[0]) \(item),"
        var steps: [String] = []
        var total = values[0]
        for (op, v) in zip(ops, values.dropFirst()) {
            switch op {
            case "+": q += " gets \(v),"
            case "-": q += " gives \(v),"
            default: q += " multiplies by \(v),"
            }
            let next = op == "+" ? total + v : op == "-" ? total - v : total * v
            steps.append("\(total)\(op)\(v)=\(next)")
            total = next
        }
        q.removeLast()
        q += ". How many now?"
        let solution = steps.joined(separator: " ") + "\n#### \(total)"
        return Problem(id: "\(split)-\(index)", question: q, solution: solution, answer: String(total))
    }

    public func problems(_ range: Range<Int>, split: Split) -> [Problem] { range.map { problem($0, split: split) } }
}

/// Problems from a file in the GSM8K layout: `{"question": ..., "answer": "... #### N"}` per line.
public enum GSM8KFile {
    public static func read(_ path: String) throws -> [Problem] {
        try JSONLines.read(path).enumerated().map { k, entry in
            let (line, value) = entry
            guard let q = value["question"]?.string, let a = value["answer"]?.string else {
                throw PipelineError("\(path):\(line): expected {\"question\": \"...\", \"answer\": \"... #### N\"}")
            }
            guard let answer = VerifiableJudge.extractAnswer(a), a.contains("####") else {
                throw PipelineError("\(path):\(line): the answer has no '#### <final answer>'")
            }
            return Problem(id: "\(k)", question: q, solution: a, answer: answer)
        }
    }
}
