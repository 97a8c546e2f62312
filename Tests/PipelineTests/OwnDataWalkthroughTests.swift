import Foundation
import Testing
import TestSupport

/// docs/own-data.md as written: its data script, config and commands run in a fresh folder, with a tiny
/// pretrained model in place of the real one (the only change: `model.path=`), then its mpirun command, whose
/// run must be the one-process run's bytes.
@Suite(.serialized) struct OwnDataWalkthroughTests {
    static let dir = Paths.temporaryDirectory("own-data")

    /// The blocks of the document, by the name of the `<!-- walkthrough: NAME -->` line before each.
    static func blocks() throws -> [String: String] {
        let text = try String(contentsOf: Paths.repo.appendingPathComponent("docs/own-data.md"), encoding: .utf8)
        var out: [String: String] = [:]
        let pattern = try NSRegularExpression(pattern: #"<!-- walkthrough: ([^ ]+) -->\n```[a-z]*\n(.*?)\n```"#, options: [.dotMatchesLineSeparators])
        for m in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            out[String(text[Range(m.range(at: 1), in: text)!])] = String(text[Range(m.range(at: 2), in: text)!])
        }
        return out
    }

    /// A line of a shell block run in the walkthrough's folder: the binary is the built one, and `validate`
    /// and `run` get the tiny model.
    func shell(_ line: String, in folder: URL, model: String, env: [String: String] = [:]) throws -> RunResult {
        var command = line.replacingOccurrences(of: ".build/release/autodidact", with: "'\(Paths.executable.path)'")
        if line.contains(" validate ") || line.contains(" run ") { command += " 'model.path=\(model)'" }
        if command.hasPrefix("mpirun ") { command = "mpirun --oversubscribe " + command.dropFirst(7) }
        return try run(["sh", "-c", "cd '\(folder.path)' && \(command)"], environment: env)
    }

    @Test func theWalkthroughRunsAsWritten() throws {
        let blocks = try Self.blocks()
        let script = try #require(blocks["make-data.py"]), config = try #require(blocks["my-irpo.yaml"])
        let commands = try #require(blocks["commands"]), mpi = try #require(blocks["mpirun"])
        let model = try pretrainedMicroModel(in: Self.dir)
        let folder = Self.dir.appendingPathComponent("walkthrough")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try script.write(to: folder.appendingPathComponent("make-data.py"), atomically: true, encoding: .utf8)
        try config.write(to: folder.appendingPathComponent("my-irpo.yaml"), atomically: true, encoding: .utf8)

        var outputs: [String: RunResult] = [:]
        for line in commands.split(separator: "\n").map(String.init) {
            let r = try shell(line, in: folder, model: model)
            #expect(r.status == 0, "\(line): \(r.stderr)")
            outputs[line.split(separator: " ").prefix(2).joined(separator: " ")] = r
        }
        // The data: 300 and 100 questions; nothing of the training file held out (no validation split).
        let test = try String(contentsOf: folder.appendingPathComponent("my-data/test.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(test.count == 100)
        let runOut = try #require(outputs[".build/release/autodidact run"])
        #expect(runOut.stdout.contains("| start |") && runOut.stdout.contains("| round 1 |"), "\(runOut.stdout)")
        #expect(!runOut.stderr.contains("validation split"), "\(runOut.stderr)")
        #expect(outputs[".build/release/autodidact status"]?.stdout.contains("runs/my-irpo: finished") == true)
        let run = folder.appendingPathComponent("runs/my-irpo")
        #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("report.html").path))
        // evaluation.jsonl: every test question, its answer, the answer read from it, the gold one.
        let lines = try String(contentsOf: run.appendingPathComponent("round-01/evaluation.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 100)
        for (line, question) in zip(lines, test) {
            let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let q = try JSONSerialization.jsonObject(with: Data(question.utf8)) as! [String: Any]
            #expect(o["question"] as? String == q["question"] as? String)
            #expect(o["gold"] as? String == (q["answer"] as? String)?.components(separatedBy: "#### ").last)
            #expect(o["answer"] is String && o["correct"] is Bool && o.keys.contains("extracted"))
        }

        // Under mpirun -np 2: the same bytes as the one-process run.
        let r = try shell(mpi, in: folder, model: model, env: ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let differences = treeDifferences(run.path, folder.appendingPathComponent("runs/my-irpo-np2").path, ignoring: ResumeTests.notCompared)
        #expect(differences.isEmpty, "\(differences)")
    }
}
