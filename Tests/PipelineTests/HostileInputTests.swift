import Testing
import Foundation
import Pipeline
import TestSupport

/// Crafted sizes in a model's config.json and tokenizer.json: each is refused with an error naming the file
/// and the key, before anything is allocated (they used to end the process with SIGABRT or grow its memory
/// without end).
@Suite(.serialized) struct HostileInputTests {
    static let dir = Paths.temporaryDirectory("hostile")

    /// A copy of a small trained model with `edit` applied to the JSON file `file`.
    static func edited(_ file: String, _ edit: (inout [String: Any]) -> Void) throws -> String {
        let copy = dir.appendingPathComponent("model-\(UUID().uuidString.prefix(8))")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: try DistillRecipeTests.teacherModel()), to: copy)
        let url = copy.appendingPathComponent(file)
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        return copy.path
    }

    static func generate(_ model: String) throws -> RunResult { try autodidact(["generate", "--model", model, "--prompt", "Q: 1+1?\nA: "]) }

    @Test(arguments: [("hidden_size", 1 << 30), ("hidden_size", (1 << 32) + 1), ("head_dim", 1 << 31),
                      ("max_position_embeddings", 1_000_000_000_000), ("vocab_size", 1 << 31), ("num_hidden_layers", 1_000_000_000),
                      ("num_hidden_layers", Int.max), ("num_attention_heads", 1 << 20)])
    func anOversizedConfigFieldIsRefusedByName(_ key: String, _ value: Int) throws {
        let model = try Self.edited("config.json") { $0[key] = value }
        let r = try Self.generate(model)
        #expect(r.status == 1)
        #expect(r.stderr.contains("\(model)/config.json: key '\(key)': \(value) is larger than any supported model's"), "\(r.stderr)")
    }

    /// Each size within its limit, together far beyond any machine: refused by the memory the model would take.
    @Test func sizesThatTogetherExceedMemoryAreRefused() throws {
        let model = try Self.edited("config.json") {
            $0["hidden_size"] = 65536; $0["intermediate_size"] = 262144; $0["num_hidden_layers"] = 1024
            $0["num_attention_heads"] = 512; $0["num_key_value_heads"] = 512; $0["head_dim"] = 128
        }
        let r = try Self.generate(model)
        #expect(r.status == 1)
        #expect(r.stderr.contains("config.json: key 'hidden_size': the model (") && r.stderr.contains("more than this machine's"), "\(r.stderr)")
    }

    @Test func tokenIdsBeyondTheFileAreRefused() throws {
        let huge = try Self.edited("tokenizer.json") { json in
            var added = (json["added_tokens"] as? [[String: Any]]) ?? []
            added.append(["id": 1 << 53, "content": "<|crafted|>", "special": true])
            json["added_tokens"] = added
        }
        let r = try Self.generate(huge)
        #expect(r.status == 1 && r.stderr.contains("tokenizer.json") && r.stderr.contains("\(1 << 53) is outside"), "\(r.stderr)")
        let far = try Self.edited("tokenizer.json") { json in
            var model = json["model"] as! [String: Any]
            var vocab = model["vocab"] as! [String: Any]
            vocab["crafted"] = 1 << 31
            model["vocab"] = vocab
            json["model"] = model
        }
        let v = try Self.generate(far)
        #expect(v.status == 1 && v.stderr.contains("tokenizer.json") && v.stderr.contains("has id \(1 << 31), beyond the"), "\(v.stderr)")
    }

    /// YAML alias bombs (each alias a list of ten aliases of the level below, eleven levels: 10^11 values once
    /// expanded) at the top level, inside a section, as a value and through a `<<` merge: refused by the value
    /// budget instead of growing memory (about 2.7 GB in 10 s before the budget).
    @Test func aliasBombsInARunConfigAreRefused() throws {
        func levels(_ indent: String, first: String) -> [String] {
            [indent + first] + (1...11).map { i in
                "\(indent)l\(i): &l\(i) [" + Array(repeating: "*l\(i - 1)", count: 10).joined(separator: ", ") + "]"
            }
        }
        let bombs = [
            "top": levels("", first: "l0: &l0 [x, x, x, x, x, x, x, x, x, x]").joined(separator: "\n"),
            "section": "run:\n" + levels("  ", first: "l0: &l0 [x, x, x, x, x, x, x, x, x, x]").joined(separator: "\n"),
            "value": "run:\n" + levels("  ", first: "name: &l0 [x, x, x, x, x, x, x, x, x, x]").joined(separator: "\n"),
            "merge": "m0: &m0 {a: 1, b: 1, c: 1, d: 1, e: 1, f: 1, g: 1, h: 1, i: 1, j: 1}\n"
                + (1...11).map { i in "m\(i): &m\(i) {" + (0..<10).map { "k\($0): *m\(i - 1)" }.joined(separator: ", ") + "}" }.joined(separator: "\n")
                + "\nrun:\n  <<: *m11",
        ]
        for (name, text) in bombs {
            let file = Self.dir.appendingPathComponent("bomb-\(name).yaml")
            try text.write(to: file, atomically: true, encoding: .utf8)
            let r = try autodidact(["validate", file.path])
            #expect(r.status == 1 && r.stderr.contains("expands to more than 100000 values"), "\(name): \(r.stderr)")
        }
    }

    /// Prompts and pairs that cannot be run are named by file and line (they were "prompt N is empty" and
    /// "a sequence of N tokens exceeds the model's context", naming neither).
    @Test func emptyAndOverlongInputsAreNamedByLine() throws {
        let model = try DistillRecipeTests.teacherModel()
        let prompts = Self.dir.appendingPathComponent("prompts.jsonl"), out = Self.dir.appendingPathComponent("out.jsonl")
        try "{\"prompt\": \"Q: 1+1?\"}\n\n{\"prompt\": \"\"}\n".write(to: prompts, atomically: true, encoding: .utf8)
        let empty = try autodidact(["generate", "--model", model, "--prompts", prompts.path, "--output", out.path, "--template", "none"])
        #expect(empty.status == 1 && empty.stderr.contains("\(prompts.path):3: the prompt is empty"), "\(empty.stderr)")
        let long = String(repeating: "x", count: 5000)
        try "{\"prompt\": \"Q: 1+1?\"}\n{\"prompt\": \"\(long)\"}\n".write(to: prompts, atomically: true, encoding: .utf8)
        let over = try autodidact(["generate", "--model", model, "--prompts", prompts.path, "--output", out.path, "--template", "none"])
        #expect(over.status == 1 && over.stderr.contains("\(prompts.path):2: the prompt has 5000 tokens; the model's context is"), "\(over.stderr)")
        let pairs = Self.dir.appendingPathComponent("pairs.jsonl")
        try "{\"prompt\": \"\(long)\", \"chosen\": \"a\", \"rejected\": \"b\"}\n".write(to: pairs, atomically: true, encoding: .utf8)
        let pair = try autodidact(["preference-loss", "--policy", model, "--pairs", pairs.path, "--loss", "dpo"])
        #expect(pair.status == 1 && pair.stderr.contains("\(pairs.path):1: the prompt and its longer completion are"), "\(pair.stderr)")
    }
}
