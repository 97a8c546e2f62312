import Cluster
import Dispatch
import Distributed
import Foundation

/// Preemption the HPC way: SIGTERM or SIGUSR1 (Slurm's `--signal=B:USR1@SECONDS`, forwarded by mpirun) only
/// sets a flag. The run looks at it at the next boundary of work (after a training step, after a generation
/// chunk on one process, before a phase), writes a checkpoint of the unit in progress, records it, and ends
/// with `exitStatus`, on which a batch script can requeue the job and resume it with `--resume`.
public enum Preemption {
    /// EX_TEMPFAIL: stopped on request; `--resume` continues.
    public static let exitStatus: Int32 = 75

    nonisolated(unsafe) static var sources: [DispatchSourceSignal] = []

    /// Turns SIGTERM and SIGUSR1 into the flag (every rank: a worker that gets the signal keeps serving until
    /// rank 0 stops the job in order).
    public static func install() {
        for s in [SIGTERM, SIGUSR1] {
            signal(s, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: s, queue: .global())
            source.setEventHandler { StopRequest.set(); StopRequest.onSignal?(s) }
            source.resume()
            sources.append(source)
        }
    }

    public static var isRequested: Bool { StopRequest.isRequested }

    /// Test hook: `AUTODIDACT_SIGNAL_AT=<point>` sends this process SIGTERM at that kill-switch point and
    /// waits until the flag is set, so that the signal lands at a point of the work, not of the clock.
    static let target = ProcessInfo.processInfo.environment["AUTODIDACT_SIGNAL_AT"]
    static func point(_ name: String) {
        guard let target, target == name, !sources.isEmpty else { return }
        kill(getpid(), SIGTERM)
        while !isRequested { usleep(1000) }
    }

    /// Thrown once the work in progress is saved: the run stopped on request.
    public struct Stopped: OrderlyStop, CustomStringConvertible {
        public let at: String
        public var description: String {
            "stopped on request (SIGTERM or SIGUSR1) at \(at); the work so far is saved: continue with --resume (exit status \(Preemption.exitStatus))"
        }
    }

    /// Throws `Stopped` when a stop was requested.
    static func check(_ at: @autoclosure () -> String) throws {
        if isRequested { throw Stopped(at: at()) }
    }
}
