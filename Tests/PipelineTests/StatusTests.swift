import Testing
import Foundation
import Pipeline
import TestSupport

/// `autodidact status` on one run (ResumeTests' micro configuration) through what a run goes through:
/// stopped by a signal in preference training, seen running while another process holds its lock, killed
/// outright in its evaluation, and finished.
@Suite(.serialized) struct StatusTests {
    static let dir = Paths.temporaryDirectory("status")

    func status(_ out: URL) throws -> String {
        let r = try autodidact(["status", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout
    }

    @Test func statusFollowsARunThroughStopKillAndFinish() throws {
        let out = Self.dir.appendingPathComponent("run")
        try? FileManager.default.removeItem(at: out)
        let args = ["run", try ResumeTests.configPath(), "run.output_dir=\(out.path)"]

        // Stopped on request at step 3 of the round's training: the reason, the unit and the way on.
        let stopped = try autodidact(args, environment: ["AUTODIDACT_SIGNAL_AT": "round-1-3-train/step/3"])
        #expect(stopped.status == 75, "\(stopped.stderr)")
        var text = try status(out)
        #expect(text.contains("\(out.path): stopped, preempted during round-1-3-train"), "\(text)")
        #expect(text.contains("stopped on request (SIGTERM or SIGUSR1) at round-1-3-train, step 3 of"), "\(text)")
        #expect(text.contains("--resume continues from the saved work"), "\(text)")
        // The evaluations so far, as the folders hold them.
        #expect(text.contains("SFT: ") && text.contains("(95% CI "), "\(text)")
        let progress = try loadJSON(out.appendingPathComponent("progress.json")) as! [String: Any]
        #expect(progress["unit"] as? String == "round-1-3-train" && progress["label"] as? String == "round-1-3-train", "\(progress)")
        #expect(progress["done"] as? Int == 3 && progress["first_done"] as? Int == 0, "\(progress)")
        let total = try #require(progress["total"] as? Int)
        // The report of the unfinished run: the evaluations so far, the round's pairs, the SFT curves.
        let report = try autodidact(["report", out.path])
        #expect(report.status == 0, "\(report.stderr)")
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("<td>SFT</td>") && html.contains("initial-0-sft (150 steps)"), "\(html.prefix(3000))")
        #expect(html.contains("<h3>run: round 1</h3>\n<div class=\"pair\">"))

        // Another process holds the run's lock: running, with the holder's line and the unit's progress.
        let lock = open(out.appendingPathComponent(".lock").path, O_RDWR)
        #expect(lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) == 0)
        text = try status(out)
        flock(lock, LOCK_UN); close(lock)
        #expect(text.contains("\(out.path): running (process "), "\(text)")
        #expect(text.contains("round-1-3-train 3 of \(total) ("), "\(text)")
        #expect(text.contains("left at "), "\(text)")

        // Killed outright (SIGKILL) in the evaluation: no stop recorded, the lock free.
        let killed = try autodidact(args + ["--resume"], environment: ["AUTODIDACT_KILL_AT": "round-1-4-evaluate/chunk/1"])
        #expect(killed.status != 0 && killed.status != 75, "\(killed.stderr)")
        text = try status(out)
        #expect(text.contains("\(out.path): not running and not finished, with no stop recorded: killed"), "\(text)")
        #expect(text.contains("--resume continues from the last completed unit (round-1-3-train)"), "\(text)")

        // Finished: every evaluation of the summary, the same figures.
        let finished = try autodidact(args + ["--resume"])
        #expect(finished.status == 0, "\(finished.stderr)")
        text = try status(out)
        #expect(text.contains("\(out.path): finished ("), "\(text)")
        let summary = try String(contentsOf: out.appendingPathComponent("summary.md"), encoding: .utf8)
        for row in summary.split(separator: "\n").filter({ $0.hasPrefix("| round") || $0.hasPrefix("| SFT") }) {
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            // "56.3% (53.2-59.3)" in the table is "56.3% (95% CI 53.2-59.3)" in the status.
            let figure = cells[1].replacingOccurrences(of: "(", with: "(95% CI ")
            #expect(text.contains("\(cells[0]): \(figure)"), "\(cells[0]) \(figure) not in\n\(text)")
        }
        #expect(text.contains("last training step recorded: control step "), "\(text)")
    }

    /// Rate and time left from the bar's own counts: 20 units in 10 s since its first count, 20 to go.
    @Test func remainingTimeComesFromTheUnitsOwnRate() {
        let p = ProgressRecord(unit: "u", unitStarted: 90, label: "u", done: 30, total: 50, status: nil, firstDone: 10, firstAt: 100,
                               updated: 110, pid: 1, host: "h")
        #expect(p.rate == 2 && p.remaining == 10)
        var fresh = p
        fresh.done = 10
        #expect(fresh.rate == nil && fresh.remaining == nil)
    }

    /// A folder without a state is refused by name, unless a run holds its lock (it has not finished its first
    /// unit of work yet): then it is running.
    @Test func aFolderWithoutAStateIsRefusedByNameUnlessARunHoldsIt() throws {
        let empty = Self.dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let r = try autodidact(["status", empty.path])
        #expect(r.status == 1 && r.stderr.contains("\(empty.path): not a run folder (no state.json)"), "\(r.stderr)")
        let lock = open(empty.appendingPathComponent(".lock").path, O_RDWR | O_CREAT, 0o644)
        #expect(lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) == 0)
        let held = try autodidact(["status", empty.path])
        flock(lock, LOCK_UN); close(lock)
        #expect(held.status == 0 && held.stdout.contains("\(empty.path): running ("), "\(held.stdout) \(held.stderr)")
    }
}
