import Testing
import Foundation
import Kernels
import Pipeline
import TestSupport

/// Every shipped config, shrunk to a tiny variant (a micro model, a handful of questions), gives the
/// artifacts whose hashes are recorded in Tests/fixtures/artifact-hashes.json: a change meant to keep
/// behaviour (a refactoring) must keep every byte. The hashes depend on the OpenBLAS kernel family (they
/// round differently), so they are recorded per family; `Tests/scripts/record-artifact-hashes.sh` records
/// them, on a commit whose outputs are the reference, for each family this machine can run.
@Suite(.serialized) struct ArtifactHashTests {
    static let dir = Paths.temporaryDirectory("artifact-hashes")
    static let fixture = Paths.repo.appendingPathComponent("Tests/fixtures/artifact-hashes.json")
    /// Files that hold timings or machine paths; metrics.jsonl is hashed without its timing fields.
    static let ignored: Set<String> = ["config.yaml", "state.json", "summary.md", ".lock", "progress.json", "report.html"]

    /// A `micro` model that follows "Q: ...\nA: N" with "\nScore: S", so that judge recipes have
    /// judgments that parse and pairs to train on.
    static func model() throws -> String {
        let path = dir.appendingPathComponent("model").path
        if FileManager.default.fileExists(atPath: path + "/config.json") { return path }
        var rng = TestRNG(3)
        var task = ArithmeticTask()
        task.maxOperands = 3; task.maxValue = 20  // as the judge recipes' configs
        let corpus = task.problems(0..<800, split: .train).map { p in
            "Q: \(p.question)\nA: \(rng.int(2) == 0 ? p.answer : String(rng.int(40)))\nScore: \(1 + rng.int(5))\n\n"
        }.joined()
        let file = dir.appendingPathComponent("corpus.txt")
        try corpus.write(to: file, atomically: true, encoding: .utf8)
        let r = try autodidact(["pretrain", "--shape", "micro", "--steps", "400", "--batch", "8", "--seq", "96", "--lr", "0.003",
                                "--text", file.path, "--output", path])
        guard r.status == 0 else { throw NSError(domain: "pretrain", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: r.stderr]) }
        return path
    }

    static let names = ["quickstart", "irpo", "irpo-ablation", "scpo", "distill", "lift", "meta-rewarding", "rip",
                        "self-rewarding", "self-taught-evaluator", "synthesize", "tpo"]

    /// The overrides that shrink `name` to a run of seconds.
    static func overrides(_ name: String) throws -> [String] {
        let fromScratch = ["quickstart", "irpo", "irpo-ablation", "scpo"]
        if fromScratch.contains(name) {
            return ["run.seeds=1", "model.shape=micro", "data.max_operands=2", "data.max_value=9", "data.train_size=300", "data.validation_size=16",
                    "data.eval_size=16", "evaluation.max_new_tokens=12", "evaluation.batch_size=8",
                    "schedule.initial.0.sft.batch_size=8", "schedule.initial.0.sft.lr=0.01", "schedule.initial.0.sft.warmup=5",
                    "schedule.initial.0.sft.min_steps=60", "schedule.initial.0.sft.max_steps=120", "schedule.initial.0.sft.eval_every=20",
                    "schedule.initial.0.sft.checkpoint_every=20", "schedule.rounds.count=2",
                    "schedule.rounds.phases.0.generate.questions=12", "schedule.rounds.phases.0.generate.samples=4",
                    "schedule.rounds.phases.0.generate.max_new_tokens=12", "schedule.rounds.phases.0.generate.batch_size=8",
                    "schedule.rounds.phases.3.train.batch_size=4", "schedule.rounds.phases.3.train.warmup=1",
                    "schedule.rounds.phases.3.train.lr=0.001", "schedule.rounds.phases.3.train.checkpoint_every=3"]
        }
        let rubric = dir.appendingPathComponent("rubric.txt")
        try "Q: {instruction}\nA: {response}".write(to: rubric, atomically: true, encoding: .utf8)
        let m = try model()
        let common = ["model.path=\(m)", "data.template=qa", "data.eval_size=6", "evaluation.max_new_tokens=6", "evaluation.batch_size=8"]
        let winRate = ["evaluation.win_rate_count=4", "evaluation.win_rate_max_new_tokens=6"]
        // Two-token answers: the judge prompt then ends where the model's corpus has "\nScore: S".
        func generate(_ i: Int, questions: Int = 8) -> [String] {
            ["schedule.rounds.phases.\(i).generate.questions=\(questions)", "schedule.rounds.phases.\(i).generate.max_new_tokens=2",
             "schedule.rounds.phases.\(i).generate.batch_size=8"]
        }
        func judge(_ i: Int) -> [String] {
            ["schedule.rounds.phases.\(i).judge.rubric=\(rubric.path)", "schedule.rounds.phases.\(i).judge.max_new_tokens=8",
             "schedule.rounds.phases.\(i).judge.batch_size=8"]
        }
        func train(_ i: Int) -> [String] { ["schedule.rounds.phases.\(i).train.lr=0.0001"] }
        switch name {
        case "distill":
            return common + generate(0) + ["schedule.rounds.phases.0.generate.teacher=\(m)", "schedule.rounds.phases.0.generate.teacher_template=qa",
                                           "schedule.rounds.phases.2.train.lr=0.001", "schedule.rounds.phases.2.train.checkpoint_every=2"]
        case "lift":
            return common + winRate + generate(0) + train(3) + ["evaluation.length_limit=1", "schedule.rounds.phases.2.pairs.lift_min_difference=0"]
        case "meta-rewarding":
            return common + winRate + ["evaluation.judge_accuracy_count=4", "evaluation.judge_accuracy_max_new_tokens=6",
                                       "schedule.rounds.count=2", "schedule.rounds.phases.0.generate.samples=3", "schedule.rounds.phases.1.judge.judgments=4"]
                + generate(0, questions: 6) + judge(1) + train(3)
        case "rip":
            return common + ["schedule.rounds.phases.0.synthesize.requests=4", "schedule.rounds.phases.0.synthesize.max_new_tokens=16"]
                + generate(1, questions: 12) + judge(2) + train(4)
        case "self-rewarding":
            return common + winRate + ["evaluation.judge_accuracy_count=4", "evaluation.judge_accuracy_max_new_tokens=6",
                                       "schedule.rounds.phases.0.synthesize.requests=4", "schedule.rounds.phases.0.synthesize.max_new_tokens=16",
                                       "schedule.rounds.phases.1.generate.source=synthesized_or_task"]
                + generate(1) + judge(2) + train(4)
        case "self-taught-evaluator":
            return common + ["data.eval_size=4", "schedule.rounds.phases.0.synthesize.modified_instructions=4",
                             "schedule.rounds.phases.0.synthesize.max_new_tokens=24", "schedule.rounds.phases.1.generate.samples=4",
                             "schedule.rounds.phases.1.generate.source=synthesized_or_task"]
                + generate(1) + train(4)
        case "synthesize":
            return common + ["schedule.rounds.phases.0.synthesize.samples=2", "schedule.rounds.phases.0.synthesize.max_new_tokens=48",
                             "schedule.rounds.phases.1.generate.source=synthesized_or_task"]
                + generate(1) + train(4)
        case "tpo":
            return common + ["data.thought_tokens=4", "schedule.rounds.phases.0.generate.samples=4", "schedule.rounds.phases.0.generate.temperature=1.0"]
                + generate(0) + ["schedule.rounds.phases.0.generate.max_new_tokens=40"] + judge(1) + train(3)
        default:
            throw NSError(domain: "ArtifactHashTests", code: 1, userInfo: [NSLocalizedDescriptionKey: "no tiny variant of \(name)"])
        }
    }

    /// The hash of every artifact of a run folder by its path in the folder; metrics lines without timings.
    static func hashes(of root: URL) throws -> [String: String] {
        var out: [String: String] = [:]
        let e = FileManager.default.enumerator(atPath: root.path)
        while let f = e?.nextObject() as? String {
            var isDir: ObjCBool = false
            let url = root.appendingPathComponent(f)
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue,
                  !ignored.contains(url.lastPathComponent) else { continue }
            var data = try Data(contentsOf: url)
            if url.lastPathComponent == "metrics.jsonl" {
                let lines = try String(decoding: data, as: UTF8.self).split(separator: "\n").map { line -> String in
                    var o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                    for k in o.keys where k.contains("second") || k.hasSuffix("_per_s") || k.hasPrefix("peak_rss") { o[k] = nil }
                    return String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self)
                }
                data = Data(lines.joined(separator: "\n").utf8)
            }
            out[f] = fnv1a(data)
        }
        return out
    }

    typealias Fixture = [String: [String: [String: String]]]

    @Test(arguments: names) func tinyVariantGivesTheRecordedBytes(_ name: String) throws {
        let out = ArtifactHashTests.dir.appendingPathComponent(name)
        try? FileManager.default.removeItem(at: out)
        let r = try autodidact(["run", Paths.repo.appendingPathComponent("configs/\(name).yaml").path] + (try ArtifactHashTests.overrides(name))
                               + ["run.output_dir=\(out.path)"])
        try #require(r.status == 0, "\(name): \(r.stderr)")
        let got = try ArtifactHashTests.hashes(of: out)
        let kernel = Gemm.kernel
        var fixture = (try? JSONDecoder().decode(Fixture.self, from: Data(contentsOf: ArtifactHashTests.fixture))) ?? [:]
        if ProcessInfo.processInfo.environment["AUTODIDACT_RECORD_HASHES"] == "1" {
            fixture[kernel, default: [:]][name] = got
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys, .prettyPrinted]
            try e.encode(fixture).write(to: ArtifactHashTests.fixture, options: .atomic)
            return
        }
        guard let recorded = fixture[kernel]?[name] else {
            Issue.record("no hashes recorded for \(name) under the OpenBLAS \(kernel) kernels (recorded: \(fixture.keys.sorted())); see Tests/scripts/record-artifact-hashes.sh")
            return
        }
        let differing = Set(recorded.keys).union(got.keys).sorted().filter { recorded[$0] != got[$0] }
        #expect(differing.isEmpty, "\(name) under \(kernel): \(differing.count) of \(recorded.count) artifacts differ: \(differing.prefix(12))")
    }
}
