import Foundation

/// Test hook for resume tests: `AUTODIDACT_KILL_AT=<point>` ends the process with SIGKILL when the run
/// reaches that point (e.g. `initial-0-sft/step/45`, `round-1-0-generate/chunk/2`,
/// `round-1-3-train/saving/3`), the way a crash or an OOM kill would.
enum KillSwitch {
    static let target = ProcessInfo.processInfo.environment["AUTODIDACT_KILL_AT"]

    static func point(_ name: @autoclosure () -> String) {
        guard let target, target == name() else { return }
        FileHandle.standardError.write("AUTODIDACT_KILL_AT: killing at \(target)\n".data(using: .utf8)!)
        kill(getpid(), SIGKILL)
    }
}
