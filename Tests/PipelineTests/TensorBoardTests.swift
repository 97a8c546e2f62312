import Foundation
import Testing
import Pipeline
import TestSupport
import Tokenizer

/// `run.tensorboard`: the event file is read back by the tensorboard package's own loader (which checks every
/// record's masked CRC32C), and every scalar equals the metrics line it came from.
@Suite(.serialized) struct TensorBoardTests {
    @Test func crc32cIsCastagnolis() {
        // The check value of CRC-32C (iSCSI), and the empty string.
        #expect(TensorBoard.crc32c(Data("123456789".utf8)) == 0xE306_9283)
        #expect(TensorBoard.crc32c(Data()) == 0)
    }

    @Test func everyMetricsLineIsReadBackByTensorBoard() throws {
        let out = Paths.temporaryDirectory("tensorboard-run")
        let r = try autodidact(["run", try ResumeTests.configPath(), "run.output_dir=\(out.path)", "run.tensorboard=true"])
        #expect(r.status == 0, "\(r.stderr)")
        let events = out.appendingPathComponent("tensorboard/events.out.tfevents.autodidact")
        let read = try run(["python3", Paths.repo.appendingPathComponent("Tests/scripts/read_tensorboard.py").path, events.path])
        #expect(read.status == 0, "\(read.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(read.stdout.utf8)) as! [String: Any]
        #expect(json["version"] as? String == "brain.Event:2")
        let got = (json["scalars"] as! [[Any]]).map { "\($0[0] as! String) \($0[1] as! Int) \(Float($0[2] as! Double))" }
        // What the metrics files say, line by line (read with JSONDecoder: Foundation's JSONSerialization
        // rounds some decimals differently on Linux).
        var want: [String] = []
        for folder in ["initial", "round-01", "control"] {
            let text = try String(contentsOf: out.appendingPathComponent("\(folder)/metrics.jsonl"), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let fields = try JSONDecoder().decode([String: JSONValue].self, from: Data(line.utf8))
                let phase = fields["phase"]?.string ?? folder
                if let step = fields["step"]?.int {
                    for key in fields.keys.sorted() where key != "step" && key != "phase" {
                        if let v = fields[key]?.double { want.append("\(phase)/\(key) \(step) \(Float(v))") }
                    }
                } else if phase == "evaluate", let acc = fields["accuracy"]?.double {
                    want.append("evaluate/accuracy\(folder == "control" ? "_control" : "") \(folder == "round-01" ? 1 : 0) \(Float(acc))")
                }
            }
        }
        #expect(want.count > 300 && got == want, "\(got.count) scalars read, \(want.count) metrics values; first difference: \(zip(got, want).first { $0 != $1 }.map { "\($0)" } ?? "-")")
        #expect(want.contains { $0.hasPrefix("round-1-3-train/rewards/margins 1 ") } && want.contains { $0.hasPrefix("initial-0-sft/loss 150 ") })
    }
}
