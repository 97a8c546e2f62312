import Testing
import Foundation
import Pipeline
import TestSupport

/// The config layer as a first user meets it: what `config.yaml` holds, how errors name keys and paths,
/// what `validate` reads, and the command line checking losses and sampling by the config's rules.
@Suite(.serialized) struct ConfigLayerTests {
    static let dir = Paths.temporaryDirectory("config-layer")

    func write(_ text: String, _ name: String = "c.yaml") throws -> String { try writeFile(text, in: ConfigLayerTests.dir, name) }

    static let base = """
    run:
      name: t
      seed: 3
    model:
      shape: micro
    data:
      train_size: 20
      eval_size: 4
      validation_size: 2
    schedule:
      rounds:
        count: 1
        phases:
          - generate:
              samples: 4
              temperature: 0.5
              stop: ["\\n\\n"]
    """

    /// Numbers and booleans are JSON numbers and booleans in config.yaml; strings stay strings; reading it
    /// back gives the same configuration (the hash that --resume compares).
    @Test func theConfigAsRunKeepsNumbersAndReadsBackTheSame() throws {
        let c = try RunConfig.load(try write(ConfigLayerTests.base))
        let json = c.tree.json()
        #expect(json.contains("\"seed\": 3") && json.contains("\"temperature\": 0.5") && json.contains("\"name\": \"t\""), "\(json)")
        #expect(json.contains("\"stop\": [\n") && json.contains("\"\\n\\n\""))
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        #expect((object["run"] as! [String: Any])["seed"] as? Int == 3)
        let again = try RunConfig.load(try write(json, "again.yaml"))
        #expect(again.hash == c.hash)
        // A value that only looks like a number in YAML (a leading zero) stays a string.
        let named = try RunConfig.load(try write(ConfigLayerTests.base.replacingOccurrences(of: "name: t", with: "name: 007")))
        #expect(named.tree.json().contains("\"name\": \"007\""))
    }

    /// An unknown key gets the closest known key of its section; a relative path that does not exist says
    /// where relative paths are read from; keys are named as an override spells them.
    @Test func errorsSuggestKeysAndSayHowPathsResolve() throws {
        let cases: [(String, String)] = [
            (ConfigLayerTests.base.replacingOccurrences(of: "  seed: 3", with: "  seeed: 3"), "key 'run.seeed': unknown key (did you mean 'seed'?)"),
            (ConfigLayerTests.base.replacingOccurrences(of: "temperature: 0.5", with: "temprature: 0.5"),
             "key 'schedule.rounds.phases.0.generate.temprature': unknown key (did you mean 'temperature'?)"),
            (ConfigLayerTests.base.replacingOccurrences(of: "  shape: micro", with: "  path: no/such/model"),
             "key 'model.path': 'no/such/model' does not exist (relative paths are read from the current directory"),
            (ConfigLayerTests.base.replacingOccurrences(of: "temperature: 0.5", with: "temperature: 11"),
             "key 'schedule.rounds.phases.0.generate.temperature': must be in 0...10"),
            (ConfigLayerTests.base + "\n      - train:\n          loss: dpo\n          beta: 0", "key 'schedule.rounds.phases.1.train.beta': must be at least 1e-06"),
            (ConfigLayerTests.base + "\n      - pairs:\n          kind: correct_vs_incorrect\n          tau: 0.5", "key 'schedule.rounds.phases.1.pairs.tau': unknown key"),
            (ConfigLayerTests.base + "\n      - train:\n          loss: dpo\n          match_tokens: runs/a",
             "key 'schedule.rounds.phases.1.train.match_tokens': matches training tokens for rejection-sampling SFT only (loss: sft)"),
            (ConfigLayerTests.base + "\n      - train:\n          loss: sft\n          epochs: 2\n          match_tokens: runs/a",
             "key 'schedule.rounds.phases.1.train.match_tokens': sets the steps from the tokens; leave out epochs"),
            (ConfigLayerTests.base + "\n      - judge:\n          kind: self_consistency\n          require_stop: true",
             "key 'schedule.rounds.phases.1.judge.require_stop': applies to the verifiable judge only (kind verifiable)"),
        ]
        for (text, needle) in cases {
            do { _ = try RunConfig.load(try write(text)); Issue.record("accepted: \(needle)") } catch {
                #expect("\(error)".contains(needle), "\(error)")
            }
        }
        // The key an error names is one an override accepts: overriding it fixes the config.
        let fixed = try RunConfig.load(try write(cases[3].0), overrides: ["schedule.rounds.phases.0.generate.temperature=1"])
        if case .generate(let g) = fixed.rounds[0][0] { #expect(g.sampling.temperature == 1) } else { Issue.record("no generate") }
    }

    /// `validate` reads the data files: a bad line and a file shorter than its count are caught before a run.
    @Test func validateReadsTheDataFiles() throws {
        let d = ConfigLayerTests.dir
        let good = (0..<10).map { "{\"question\": \"What is \($0) + 1?\", \"answer\": \"\($0) + 1 = \($0 + 1)\\n#### \($0 + 1)\"}" }
        try (good.joined(separator: "\n") + "\n").write(to: d.appendingPathComponent("train.jsonl"), atomically: true, encoding: .utf8)
        try (good.joined(separator: "\n") + "\n").write(to: d.appendingPathComponent("eval.jsonl"), atomically: true, encoding: .utf8)
        try (good.prefix(3).joined(separator: "\n") + "\n{\"question\": \"no answer\"}\n").write(to: d.appendingPathComponent("bad.jsonl"), atomically: true, encoding: .utf8)
        let config = ConfigLayerTests.base.replacingOccurrences(of: "  train_size: 20", with: "  task: file\n  train_file: \(d.path)/train.jsonl\n  eval_file: \(d.path)/eval.jsonl\n  train_size: 20")
        let path = try write(config, "file.yaml")
        let ok = try autodidact(["validate", path])
        #expect(ok.status == 0, "\(ok.stderr)")
        let short = try autodidact(["validate", path, "data.eval_size=50"])
        #expect(short.status != 0 && short.stderr.contains("eval.jsonl: 10 problems, fewer than data.eval_size 50"), "\(short.stderr)")
        let bad = try autodidact(["validate", path, "data.train_file=\(d.path)/bad.jsonl"])
        #expect(bad.status != 0 && bad.stderr.contains("bad.jsonl:4: expected {\"question\""), "\(bad.stderr)")
        let winRate = try autodidact(["validate", path, "evaluation.win_rate_prompts=\(d.path)/train.jsonl", "evaluation.win_rate_judge=\(d.path)"])
        #expect(winRate.status != 0 && winRate.stderr.contains("train.jsonl:1"), "\(winRate.stderr)")
        // No validation split is needed without an sft phase or a gate: 0 is accepted (the whole file trains),
        // and refused by key when either needs it.
        let none = try autodidact(["validate", path, "data.validation_size=0", "data.train_size=10"])
        #expect(none.status == 0, "\(none.stderr)")
        let withSFT = try write(config.replacingOccurrences(of: "schedule:\n", with: "schedule:\n  initial:\n    - sft:\n        max_steps: 10\n"), "sft.yaml")
        let sft = try autodidact(["validate", withSFT, "data.validation_size=0"])
        #expect(sft.status != 0 && sft.stderr.contains("data.validation_size") && sft.stderr.contains("0 leaves no validation split, which the sft phase"), "\(sft.stderr)")
        let gate = try autodidact(["validate", path, "data.validation_size=0", "schedule.promotion.rule=better"])
        #expect(gate.status != 0 && gate.stderr.contains("the promotion gate (its dev split) needs"), "\(gate.stderr)")
    }

    /// `data.thought_tokens` forces the thought template's response marker: it needs that template, and
    /// every pass that writes answers must leave room for a response after the thoughts.
    @Test func thoughtTokensNeedTheThoughtTemplateAndRoomForAResponse() throws {
        let path = try write(ConfigLayerTests.base, "thought.yaml")
        let ok = try autodidact(["validate", path, "data.thought=true", "data.thought_tokens=32"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let off = try autodidact(["validate", path, "data.thought_tokens=0"])
        #expect(off.status == 0, "\(off.stderr)")
        let plain = try autodidact(["validate", path, "data.thought_tokens=32"])
        #expect(plain.status != 0 && plain.stderr.contains("thought_tokens") && plain.stderr.contains("set thought: true"), "\(plain.stderr)")
        let generate = try autodidact(["validate", path, "data.thought=true", "data.thought_tokens=64", "evaluation.max_new_tokens=128"])
        #expect(generate.status != 0 && generate.stderr.contains("data.thought_tokens")
                && generate.stderr.contains("generate.max_new_tokens is 64"), "\(generate.stderr)")
        let evaluation = try autodidact(["validate", path, "data.thought=true", "data.thought_tokens=32", "evaluation.max_new_tokens=20"])
        #expect(evaluation.status != 0 && evaluation.stderr.contains("evaluation.max_new_tokens is 20"), "\(evaluation.stderr)")
    }

    /// The command line refuses what the config refuses, with the same ranges.
    @Test func theCommandLineChecksLossesAndSamplingAsTheConfigDoes() throws {
        let model = try pretrainedMicroModel(in: ConfigLayerTests.dir)
        let pairs = ConfigLayerTests.dir.appendingPathComponent("pairs.jsonl")
        try "{\"prompt_ids\": [1, 2], \"chosen_ids\": [3], \"rejected_ids\": [4]}\n".write(to: pairs, atomically: true, encoding: .utf8)
        let beta = try autodidact(["preference-train", "--model", model, "--pairs", pairs.path, "--beta", "0"])
        #expect(beta.status != 0 && beta.stderr.contains("--beta must be at least 1e-06"), "\(beta.stderr)")
        let loss = try autodidact(["preference-loss", "--policy", model, "--pairs", pairs.path, "--loss", "kto"])
        #expect(loss.status != 0 && loss.stderr.contains("kto"), "\(loss.stderr)")
        let hot = try autodidact(["generate", "--model", model, "--prompt", "Q", "--temperature", "11"])
        #expect(hot.status != 0 && hot.stderr.contains("--temperature must be in 0...10"), "\(hot.stderr)")
        let none = try autodidact(["generate", "--model", model, "--prompt", "Q", "--max-new-tokens", "0"])
        #expect(none.status != 0 && none.stderr.contains("--max-new-tokens must be in 1...4096"), "\(none.stderr)")
    }
}
