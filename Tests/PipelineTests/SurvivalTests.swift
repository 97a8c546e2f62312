import Testing
import Foundation
import Pipeline
import TestSupport

/// What users and clusters do to a run: a second run on the same folder, a folder moved elsewhere
/// (ResumeTests' micro configuration).
@Suite(.serialized) struct SurvivalTests {
    static let dir = Paths.temporaryDirectory("survival")

    func run(_ out: URL, _ extra: [String] = [], kill: String? = nil) throws -> RunResult {
        try autodidact(["run", try ResumeTests.configPath(), "run.output_dir=\(out.path)"] + extra,
                       environment: kill.map { ["AUTODIDACT_KILL_AT": $0] } ?? [:])
    }

    /// A run killed after its generate phase, its folder moved, resumed under the new name: the output
    /// location is not part of the configuration's identity, and the run ends with the bytes of one that
    /// was never interrupted or moved.
    @Test func aMovedRunFolderResumes() throws {
        let whole = Self.dir.appendingPathComponent("whole"), first = Self.dir.appendingPathComponent("first"),
            moved = Self.dir.appendingPathComponent("elsewhere/moved")
        for d in [whole, first, moved] { try? FileManager.default.removeItem(at: d) }
        #expect(try run(whole).status == 0)
        let k = try run(first, kill: "round-1-0-generate/done")
        #expect(k.status != 0)
        try FileManager.default.createDirectory(at: moved.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: first, to: moved)
        let r = try run(moved, ["--resume"])
        #expect(r.status == 0, "\(r.stderr)")
        let differences = treeDifferences(whole.path, moved.path, ignoring: ResumeTests.notCompared)
        #expect(differences.isEmpty, "\(differences)")
        // A changed setting is still a different configuration.
        let changed = try run(moved, ["--resume", "data.eval_size=20"])
        #expect(changed.status != 0 && changed.stderr.contains("changed: data.eval_size"), "\(changed.stderr)")
    }

    /// While a run holds its folder (here stopped with SIGSTOP), a second run on it is refused with a message
    /// naming the holder's process; once the holder is dead its lock is gone and `--resume` finishes the run.
    @Test func aSecondRunOnTheSameFolderIsRefused() throws {
        let out = Self.dir.appendingPathComponent("locked")
        try? FileManager.default.removeItem(at: out)
        let holder = Process()
        holder.executableURL = Paths.executable
        holder.arguments = ["run", try ResumeTests.configPath(), "run.output_dir=\(out.path)"]
        holder.standardOutput = FileHandle.nullDevice
        holder.standardError = FileHandle.nullDevice
        try holder.run()
        // Wait until it holds the lock and has started (its state file exists), then freeze it.
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: out.appendingPathComponent("state.json").path) && Date() < deadline { usleep(20_000) }
        kill(holder.processIdentifier, SIGSTOP)
        defer { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() }
        for extra in [[], ["--resume"]] {
            let second = try run(out, extra)
            #expect(second.status == 1)
            #expect(second.stderr.contains("is in use by another run (process \(holder.processIdentifier) on "), "\(second.stderr)")
        }
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        let resumed = try run(out, ["--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
    }
}
