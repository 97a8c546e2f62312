import Testing
import Foundation
import Alignment
import Model
import Pipeline
import TestSupport

struct TaskAndStatisticsTests {
    @Test func arithmeticProblemsAreCorrectDeterministicAndSplitsAreDisjoint() {
        var task = ArithmeticTask()
        task.minOperands = 2; task.maxOperands = 4; task.maxValue = 99
        let train = task.problems(0..<2000, split: .train), eval = task.problems(0..<500, split: .evaluation)
        #expect(task.problem(7, split: .train) == train[7])
        #expect(Set(train.map(\.question)).isDisjoint(with: Set(eval.map(\.question))))
        for p in train.prefix(300) + eval.prefix(100) {
            // The chain of steps recomputes to the answer, which the verifiable judge extracts.
            let steps = p.solution.split(separator: "\n")[0].split(separator: " ")
            #expect(steps.count >= 1 && steps.count <= 3)
            for s in steps {
                let parts = s.split(separator: "=")
                let lhs = String(parts[0]), rhs = Int(parts[1])!
                let op: Character = lhs.contains("+") ? "+" : "-"
                let ab = lhs.split(separator: op).map { Int($0)! }
                #expect((op == "+" ? ab[0] + ab[1] : ab[0] - ab[1]) == rhs)
                #expect(ab.allSatisfy { $0 >= 0 && $0 <= 400 })
            }
            #expect(VerifiableJudge.extractAnswer(p.solution) == p.answer && Int(p.answer)! >= 0)
            #expect(VerifiableJudge.isCorrect(p.solution, reference: p.answer))
        }
        // The knobs: two operands only.
        task.maxOperands = 2
        #expect(task.problems(0..<50, split: .train).allSatisfy { !$0.solution.split(separator: "\n")[0].contains(" ") })
    }

    @Test func wilsonAndMcNemarMatchHandComputedValues() {
        // 50/100: p=0.5, z^2=3.8415; center 0.5, half = 1.96*sqrt(0.0025+0.0000960)/1.038415 = 0.0962
        let w = Statistics.wilson(successes: 50, trials: 100)
        #expect(abs(w.low - 0.4038) < 1e-4 && abs(w.high - 0.5962) < 1e-4)
        // b = 10, c = 2: p = 2 * (C(12,0) + C(12,1) + C(12,2)) / 2^12 = 2 * 79 / 4096 = 0.038574
        #expect(abs(Statistics.mcnemar(b: 10, c: 2) - 0.0385742) < 1e-6)
        #expect(Statistics.mcnemar(b: 3, c: 3) == 1 && Statistics.mcnemar(b: 0, c: 0) == 1)
        let t = Statistics.mcnemar(before: [true, true, false, false, true], after: [true, false, true, true, true])
        #expect(t.b == 1 && t.c == 2)
    }
}

@Suite(.serialized) struct ConfigValidationTests {
    static let dir = Paths.temporaryDirectory("configs")

    func write(_ text: String, _ name: String = "c.yaml") throws -> String {
        let path = ConfigValidationTests.dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func everyShippedConfigValidates() throws {
        let configs = try FileManager.default.contentsOfDirectory(atPath: Paths.repo.appendingPathComponent("configs").path).filter { $0.hasSuffix(".yaml") }
        #expect(configs.contains("quickstart.yaml") && configs.contains("irpo.yaml") && configs.contains("scpo.yaml"))
        for name in configs {
            let r = try autodidact(["validate", Paths.repo.appendingPathComponent("configs/\(name)").path])
            #expect(r.status == 0 && r.stdout.contains("valid"), "\(name): \(r.stderr)")
            let header = try String(contentsOf: Paths.repo.appendingPathComponent("configs/\(name)"), encoding: .utf8)
            #expect(header.hasPrefix("#") && header.contains("autodidact run configs/\(name)") || header.contains("make demo"), "\(name) lacks its command")
        }
    }

    @Test func errorsNameTheKeyAndItsLine() throws {
        let base = """
        run:
          name: t
        model:
          shape: micro
        schedule:
          initial:
            - sft:
                max_steps: 10
          rounds:
            count: 1
            phases:
              - generate:
                  samples: 4
              - train:
                  loss: dpo
        """
        #expect(throws: Never.self) { _ = try RunConfig.load(try write(base)) }
        let cases: [(String, String)] = [
            (base.replacingOccurrences(of: "  name: t", with: "  name: t\n  colour: red"), "c.yaml:3: key 'run.colour': unknown key"),
            (base.replacingOccurrences(of: "samples: 4", with: "samples: many"), "c.yaml:13: key 'schedule.rounds.phases.0.generate.samples': expected an integer"),
            (base.replacingOccurrences(of: "samples: 4", with: "samples: 0"), "must be at least 1"),
            (base.replacingOccurrences(of: "loss: dpo", with: "loss: kto"), "'kto' is not one of"),
            (base.replacingOccurrences(of: "shape: micro", with: "path: /nonexistent/model"), "c.yaml:4: key 'model.path': '/nonexistent/model' does not exist"),
            (base.replacingOccurrences(of: "- sft:", with: "- pretrain:"), "unknown phase"),
            (base + "\n    overrides:\n      \"0\": {generate.temperature: 0.9}", "not a round number"),
            (base + "\n    overrides:\n      \"5\": {generate.temperature: hot}", "c.yaml:17: key 'schedule.rounds.overrides.5.generate.temperature': expected a number"),
            (base + "\n    overrides:\n      \"1\": {judge.kind: verifiable}", "no 'judge' phase"),
            ("run: [1, 2", "not valid YAML"),
        ]
        for (text, needle) in cases {
            do { _ = try RunConfig.load(try write(text)); Issue.record("accepted: \(needle)") } catch {
                #expect("\(error)".contains(needle), "\(error)")
            }
        }
        // Overrides: per round, and from the command line (including list items).
        let with = base + "\n    overrides:\n      \"1\": {generate.temperature: 0.9}"
        let c = try RunConfig.load(try write(with), overrides: ["schedule.initial.0.sft.max_steps=20", "run.seed=4"])
        #expect(c.seed == 4)
        if case .sft(let s) = c.initial[0] { #expect(s.maxSteps == 20) } else { Issue.record("no sft") }
        if case .generate(let g) = c.rounds[0][0] { #expect(g.sampling.temperature == 0.9 && g.samples == 4) } else { Issue.record("no generate") }
        #expect(throws: ConfigError.self) { try RunConfig.load(try write(base), overrides: ["run.seed=-1"]) }
        let cli = try autodidact(["validate", try write(base), "schedule.rounds.count=x"])
        #expect(cli.status != 0 && cli.stderr.contains("key 'schedule.rounds.count'"))
    }
}
