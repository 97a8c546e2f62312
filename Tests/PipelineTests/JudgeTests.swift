import Testing
import Foundation
import Alignment
import Generation
import Pipeline
import TestSupport

/// Known-label judge pairs and judge accuracy (issue 7's measuring stick for every judging recipe).
@Suite(.serialized) struct JudgePairTests {
    static let dir = Paths.temporaryDirectory("judge-pairs")

    /// "a op b = c." steps of a rendered solution, and its "#### N" answer.
    static func parse(_ text: String) -> (steps: [(Int, String, Int, Int)], answer: Int?) {
        var steps: [(Int, String, Int, Int)] = []
        let words = text.replacingOccurrences(of: "\n", with: " ").split(separator: " ").map(String.init)
        var i = 0
        while i + 4 < words.count {
            if let a = Int(words[i]), ["+", "-", "*"].contains(words[i + 1]), let b = Int(words[i + 2]), words[i + 3] == "=",
               let c = Int(words[i + 4].trimmingCharacters(in: .punctuationCharacters)) {
                steps.append((a, words[i + 1], b, c)); i += 5
            } else { i += 1 }
        }
        let answer = text.components(separatedBy: "#### ").last.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        return (steps, answer)
    }

    static func value(_ a: Int, _ op: String, _ b: Int) -> Int { op == "+" ? a + b : op == "-" ? a - b : a * b }

    /// Chosen is the task's own solution; rejected has exactly one wrong step, every later step computed
    /// correctly from it, and so a different final answer. Same seed, same pairs; other seed, other pairs.
    @Test func rejectedSolutionsCarryExactlyOneSlip() throws {
        let task = ArithmeticTask()
        let pairs = ArithmeticJudgePairs.make(count: 150, task: task, seed: 0)
        #expect(pairs.count == 150 && Set(pairs.map(\.id)).count == 150)
        for p in pairs {
            let index = Int(p.id.split(separator: "-").last!)!
            let problem = task.problem(index, split: .evaluation)
            #expect(p.prompt == problem.question)
            let good = JudgePairTests.parse(p.chosen), bad = JudgePairTests.parse(p.rejected)
            #expect(good.answer.map(String.init) == problem.answer)
            #expect(bad.answer != nil && bad.answer != good.answer)
            #expect(good.steps.allSatisfy { JudgePairTests.value($0.0, $0.1, $0.2) == $0.3 })
            #expect(bad.steps.count == good.steps.count)
            let wrong = bad.steps.filter { JudgePairTests.value($0.0, $0.1, $0.2) != $0.3 }.count
            #expect(wrong == 1, "\(p.rejected)")
            for k in 1..<bad.steps.count { #expect(bad.steps[k].0 == bad.steps[k - 1].3) }
            #expect(bad.steps.last!.3 == bad.answer)
        }
        let file = JudgePairTests.dir.appendingPathComponent("pairs.jsonl")
        let r = try autodidact(["judge-pairs", "--count", "150", "--output", file.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try ArithmeticJudgePairs.read(file.path) == pairs)
        #expect(ArithmeticJudgePairs.make(count: 20, seed: 1).map(\.rejected) != pairs.prefix(20).map(\.rejected))
    }

    /// The shipped rule-made sets are what `judge-pairs --kind K --count 100` writes, and each pair differs
    /// from its better response in the one way its set names.
    @Test func ruleMadeSetsAreReproducibleAndEachTestsOneThing() throws {
        for kind in ["relevance", "completeness", "instruction", "fluency"] {
            let shipped = Paths.repo.appendingPathComponent("data/judge-sets/\(kind).jsonl")
            let file = JudgePairTests.dir.appendingPathComponent("\(kind).jsonl")
            #expect(try autodidact(["judge-pairs", "--kind", kind, "--count", "100", "--output", file.path]).status == 0)
            #expect(fileDifference(file.path, shipped.path) == nil, "\(kind)")
            let pairs = try ArithmeticJudgePairs.read(shipped.path)
            #expect(pairs.count == 100 && Set(pairs.map(\.id)).count == 100)
            for p in pairs {
                let c = p.chosen.split(whereSeparator: \.isWhitespace), r = p.rejected.split(whereSeparator: \.isWhitespace)
                switch kind {
                case "relevance":
                    // Another question's solution: a whole worked solution that starts another story.
                    #expect(p.rejected.contains("####") && p.rejected.components(separatedBy: ".")[0] != p.chosen.components(separatedBy: ".")[0])
                case "completeness":
                    #expect(p.chosen.hasPrefix(p.rejected) && !p.rejected.contains("####") && r.count < c.count)
                case "instruction":
                    let limit = Int(p.prompt.components(separatedBy: "using ")[1].components(separatedBy: " words")[0])!
                    #expect(c.count <= limit && r.count > limit && p.rejected.hasSuffix(p.chosen.components(separatedBy: " ").last!.dropLast()))
                default:
                    #expect(c.sorted() == r.sorted() && c != r)
                }
            }
        }
        #expect(try autodidact(["judge-pairs", "--kind", "nonsense", "--output", "/dev/null"]).stderr.contains("is not one of arithmetic, relevance"))
    }

    /// The shipped file is what `autodidact judge-pairs --count 300` writes.
    @Test func shippedPairsAreReproducible() throws {
        let shipped = Paths.repo.appendingPathComponent("data/judge-pairs.jsonl")
        let file = JudgePairTests.dir.appendingPathComponent("again.jsonl")
        #expect(try autodidact(["judge-pairs", "--count", "300", "--output", file.path]).status == 0)
        let d = fileDifference(file.path, shipped.path)
        #expect(d == nil, "\(d ?? "")")
    }

    /// Answers a pairwise judge prompt from what it can read in it.
    struct ScriptedJudge: CompletionService {
        enum Kind { case oracle, alwaysA, garbage }
        let kind: Kind
        func generate(_ prompts: [String], samples: Int, params: SamplingParameters) throws -> [[Completion]] {
            try texts(prompts, samples: samples).map { $0.map { Completion(text: $0) } }
        }
        func texts(_ prompts: [String], samples: Int) throws -> [[String]] {
            prompts.map { p in
                let a = p.components(separatedBy: "[The Start of Assistant A's Answer]").last!
                    .components(separatedBy: "[The End of Assistant A's Answer]").first!
                let aIsRight: Bool = {
                    let steps = JudgePairTests.parse(a).steps
                    return steps.allSatisfy { JudgePairTests.value($0.0, $0.1, $0.2) == $0.3 }
                }()
                switch kind {
                case .oracle: return Array(repeating: aIsRight ? "A checks out. [[A]]" : "B checks out. [[B]]", count: samples)
                case .alwaysA: return Array(repeating: "[[A]]", count: samples)
                case .garbage: return Array(repeating: "I like both.", count: samples)
                }
            }
        }
    }

    @Test func accuracyCountsBothOrdersTiesAndUnparsedJudgments() throws {
        let pairs = ArithmeticJudgePairs.make(count: 40)
        let judge = PairwiseJudge(params: SamplingParameters())
        let oracle = try JudgeAccuracy.measure(pairs, judge: judge, service: ScriptedJudge(kind: .oracle))
        #expect(oracle.correct == 40 && oracle.accuracy == 1 && oracle.singleAccuracy == 1 && oracle.ties == 0 && oracle.unparsed == 0)
        #expect(oracle.firstPosition == 40 && oracle.parsedSingles == 80)
        // A judge that always names the first position is right in one order only: every pair is a tie.
        let biased = try JudgeAccuracy.measure(pairs, judge: judge, service: ScriptedJudge(kind: .alwaysA))
        #expect(biased.correct == 0 && biased.ties == 40 && biased.singleAccuracy == 0.5 && biased.firstPosition == 80)
        let garbage = try JudgeAccuracy.measure(pairs, judge: judge, service: ScriptedJudge(kind: .garbage))
        #expect(garbage.correct == 0 && garbage.unparsed == 40 && garbage.parsedSingles == 0)
        let json = try JSONSerialization.jsonObject(with: Data(biased.json().utf8)) as! [String: Any]
        #expect(json["pairs"] as? Int == 40 && json["ties"] as? Int == 40 && json["first_position_rate"] as? Double == 1)
    }

    /// The command end to end on a small trained model (its judgments will not parse; the accounting and
    /// the output file are what is checked), and a malformed pair file named with its line.
    @Test func judgeAccuracyCommandRunsAndRefusesBadFiles() throws {
        let model = try pretrainedMicroModel(in: JudgePairTests.dir)
        let pairs = JudgePairTests.dir.appendingPathComponent("few.jsonl")
        try ArithmeticJudgePairs.write(count: 3, seed: 4, to: pairs.path)
        let out = JudgePairTests.dir.appendingPathComponent("verdicts.jsonl")
        let r = try autodidact(["judge-accuracy", "--model", model, "--pairs", pairs.path, "--mode", "generate", "--max-new-tokens", "8",
                                "--template", "plain", "--output", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        #expect(report["pairs"] as? Int == 3)
        let counted = (report["ties"] as! Int) + (report["unparsed"] as! Int) + Int(((report["accuracy"] as! Double) * 3).rounded())
        #expect(counted <= 3)
        let lines = try String(contentsOf: out, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        for line in lines {
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            #expect((obj["raw"] as! [String]).count == 2)
        }
        let bad = JudgePairTests.dir.appendingPathComponent("bad.jsonl")
        try "{\"prompt\": \"p\", \"chosen\": \"c\", \"rejected\": \"r\"}\n{\"prompt\": \"p\", \"chosen\": \"c\"}\n".write(to: bad, atomically: true, encoding: .utf8)
        let b = try autodidact(["judge-accuracy", "--model", model, "--pairs", bad.path])
        #expect(b.status != 0 && b.stderr.contains("bad.jsonl:2"), "\(b.stderr)")
    }

    /// The shipped seed instructions: a few hundred distinct prompts with ids, in varied categories.
    @Test func seedInstructionsAreVariedAndWellFormed() throws {
        let url = Paths.repo.appendingPathComponent("data/seed-instructions.jsonl")
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
        var ids = Set<String>(), prompts = Set<String>(), categories = Set<String>()
        for line in lines {
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            ids.insert(obj["id"] as! String); prompts.insert(obj["prompt"] as! String)
            categories.insert((obj["metadata"] as! [String: Any])["category"] as! String)
        }
        #expect(lines.count >= 200 && ids.count == lines.count && prompts.count == lines.count)
        #expect(categories.count >= 10)
        #expect(try BatchGenerate.readPrompts(url.path).count == lines.count)
    }
}
