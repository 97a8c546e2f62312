import Testing
import Foundation
import Generation
import TestSupport

/// `autodidact generate --prompts ... --output ...` on a small model trained by `pretrain`.
@Suite(.serialized) struct BatchGenerateTests {
    static let dir = Paths.temporaryDirectory("batch-generate")

    static func model() throws -> String { try pretrainedMicroModel(in: dir) }

    @Test func outputIsOneLinePerPromptAndSampleAndIndependentOfBatchSize() throws {
        let model = try BatchGenerateTests.model()
        let prompts = BatchGenerateTests.dir.appendingPathComponent("prompts.jsonl")
        try ["The keeper", "In the", "Ten ships came and five", "A"].map { "{\"prompt\": \"\($0)\"}" }
            .joined(separator: "\n").write(to: prompts, atomically: true, encoding: .utf8)
        var outputs: [Data] = []
        // Batch sizes 1, 3 and 8 at 1, 2 and 3 threads, with busy processes beside them.
        try withCPUHogs {
            for (threads, batch) in [(1, 1), (2, 3), (3, 8)] {
                let out = BatchGenerateTests.dir.appendingPathComponent("out-\(batch).jsonl")
                let r = try autodidact(["generate", "--model", model, "--prompts", prompts.path, "--samples", "3",
                                        "--temperature", "0.8", "--top-p", "0.9", "--top-k", "50", "--max-new-tokens", "24",
                                        "--seed", "11", "--batch-size", "\(batch)", "--output", out.path],
                                       environment: ["AUTODIDACT_THREADS": "\(threads)"])
                #expect(r.status == 0, "\(r.stderr)")
                outputs.append(try Data(contentsOf: out))
            }
        }
        #expect(byteDifference(outputs[0], outputs[1]) == nil && byteDifference(outputs[0], outputs[2]) == nil)
        let lines = String(decoding: outputs[0], as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 12)
        for (k, line) in lines.enumerated() {
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            #expect(obj["prompt_index"] as? Int == k / 3 && obj["sample_index"] as? Int == k % 3)
            let ids = obj["token_ids"] as! [Int]
            #expect(ids.count <= 24 && (obj["logprob"] as! Double) <= 0)
            #expect(["stop", "length"].contains(obj["finish_reason"] as! String))
        }
        // A different seed gives different samples.
        let other = BatchGenerateTests.dir.appendingPathComponent("out-seed.jsonl")
        _ = try autodidact(["generate", "--model", model, "--prompts", prompts.path, "--samples", "3", "--temperature", "0.8",
                            "--max-new-tokens", "24", "--seed", "12", "--output", other.path])
        #expect(try byteDifference(Data(contentsOf: other), outputs[0]) != nil)
    }

    @Test func badPromptFilesAndOptionsAreRefused() throws {
        let model = try BatchGenerateTests.model()
        let bad = BatchGenerateTests.dir.appendingPathComponent("bad.jsonl")
        try "{\"prompt\": \"ok\"}\n{\"text\": \"no prompt key\"}\n".write(to: bad, atomically: true, encoding: .utf8)
        let out = BatchGenerateTests.dir.appendingPathComponent("never.jsonl")
        let r = try autodidact(["generate", "--model", model, "--prompts", bad.path, "--output", out.path])
        #expect(r.status != 0 && r.stderr.contains("bad.jsonl:2"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
        let p = try autodidact(["generate", "--model", model, "--prompts", bad.path, "--output", out.path, "--top-p", "1.5"])
        #expect(p.status != 0 && p.stderr.contains("top-p"))
        let t = try autodidact(["generate", "--model", model, "--prompts", bad.path, "--output", out.path, "--template", "jinja"])
        #expect(t.status != 0 && t.stderr.contains("--template"))
    }
}

struct ThoughtPromptTests {
    @Test func wrapsAndSplits() {
        let w = ThoughtPrompt.wrap("Why is the sky blue?")
        #expect(w.hasSuffix("User query: Why is the sky blue?") && w.contains("Here is my thought process:"))
        let parsed = ThoughtPrompt.split("Here is my thought process: light scatters.\nHere is my response: Rayleigh scattering.")
        #expect(parsed?.thought == "light scatters." && parsed?.response == "Rayleigh scattering.")
        #expect(ThoughtPrompt.split("no markers at all") == nil)
    }
}
