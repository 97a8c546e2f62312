import Foundation

/// Test hook for resume tests: `AUTODIDACT_KILL_AT=<point>` ends the process with SIGKILL when the run
/// reaches that point, the way a crash or an OOM kill would. Points are counts of work, never times:
/// `KEY/step/N`, `KEY/saving/N` (checkpoint under its temporary name), `KEY/saved/N` (renamed, not yet
/// recorded), `KEY/recorded/N` (recorded, predecessor not yet deleted), `KEY/final/saved`,
/// `KEY/final/recorded`, `KEY/chunk/N` (generation), `KEY/done` (e.g. `initial-0-sft/recorded/8`,
/// `round-1-0-generate/chunk/2`, `control/done`); docs/runs.md lists them.
enum KillSwitch {
    static let target = ProcessInfo.processInfo.environment["AUTODIDACT_KILL_AT"]

    static func point(_ name: @autoclosure () -> String) {
        guard let target, target == name() else { return }
        FileHandle.standardError.write("AUTODIDACT_KILL_AT: killing at \(target)\n".data(using: .utf8)!)
        kill(getpid(), SIGKILL)
    }
}
