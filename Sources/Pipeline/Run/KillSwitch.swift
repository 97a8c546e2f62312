import Foundation
import Cluster

/// Test hook for resume tests: `AUTODIDACT_KILL_AT=<point>` ends the process with SIGKILL when the run
/// reaches that point, the way a crash or an OOM kill would. Points are counts of work, never times:
/// `KEY/step/N`, `KEY/saving/N` (checkpoint under its temporary name), `KEY/saved/N` (renamed, not yet
/// recorded), `KEY/recorded/N` (recorded, predecessor not yet deleted), `KEY/final/saved`,
/// `KEY/final/recorded`, `KEY/chunk/N` (generation), `KEY/done` (e.g. `initial-0-sft/recorded/8`,
/// `round-1-0-generate/chunk/2`, `control/done`); docs/runs.md lists them.
/// `AUTODIDACT_POINTS_LOG=<file>` appends the name of every point the run passes, one a line (the kill
/// matrix draws its kill points from a whole run's list).
enum KillSwitch {
    static let target = ProcessInfo.processInfo.environment["AUTODIDACT_KILL_AT"]
    static let log = ProcessInfo.processInfo.environment["AUTODIDACT_POINTS_LOG"]

    static func point(_ name: @autoclosure () -> String) {
        if let log { PointsLog.append(name(), to: log) }
        guard let target, target == name() else { return }
        FileHandle.standardError.write("AUTODIDACT_KILL_AT: killing at \(target)\n".data(using: .utf8)!)
        kill(getpid(), SIGKILL)
    }
}
