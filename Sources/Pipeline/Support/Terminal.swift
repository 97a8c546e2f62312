import Foundation
import Logging

/// Progress on long work: a redrawn bar when stderr is a terminal; otherwise a log line when the work is
/// done and, on long work, at most one every `logInterval` seconds (and every `logEvery` units at most), so
/// that a log has lines per phase step, not per item.
public final class Progress {
    let label: String
    let total: Int
    let logger: Logger
    let interactive: Bool
    let logEvery: Int
    let started = Date()
    private(set) var done = 0
    private var lastDraw = Date.distantPast
    private var lastLog = Date(), lastLogged = 0
    static let logInterval = 10.0
    /// Where every bar's counts also go (a run's `progress.json`, for `autodidact status`); set by the run.
    nonisolated(unsafe) static var observer: ((_ label: String, _ done: Int, _ total: Int, _ status: String) -> Void)?

    public init(_ label: String, total: Int, logger: Logger, logEvery: Int? = nil) {
        self.label = label
        self.total = max(total, 1)
        self.logger = logger
        interactive = isatty(STDERR_FILENO) != 0 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
        self.logEvery = logEvery ?? max(1, total / 10)
    }

    /// Marks `n` more units done; `status` is shown beside the bar (or in the log line).
    public func advance(_ n: Int = 1, status: @autoclosure () -> String = "") {
        done += n
        if let observer = Progress.observer { observer(label, done, total, status()) }
        if interactive {
            let now = Date()
            if now.timeIntervalSince(lastDraw) > 0.1 || done >= total {
                lastDraw = now
                let width = 30, filled = min(width, width * done / total)
                let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
                let elapsed = now.timeIntervalSince(started)
                let line = "\r\(label) [\(bar)] \(done)/\(total) \(String(format: "%.0fs", elapsed)) \(status())"
                FileHandle.standardError.write(line.padding(toLength: max(line.count, 100), withPad: " ", startingAt: 0).data(using: .utf8)!)
                if done >= total { FileHandle.standardError.write("\n".data(using: .utf8)!) }
            }
        } else if done >= total || (done - lastLogged >= logEvery && Date().timeIntervalSince(lastLog) >= Progress.logInterval) {
            lastLog = Date(); lastLogged = done
            logger.info("\(label) \(done)/\(total) \(status())")
        }
    }
}

extension Progress {
    /// A bar per call for a completion service: given the number of completions, what to call as each
    /// finishes.
    public static func bars(_ label: String, logger: Logger) -> (Int) -> (() -> Void) {
        { total in
            let p = Progress(label, total: total, logger: logger)
            return { p.advance() }
        }
    }
}

/// The process-wide logger setup: level from a flag, then $AUTODIDACT_LOG_LEVEL, then info.
public enum Logs {
    nonisolated(unsafe) private static var bootstrapped = false

    public static func bootstrap(level: String?) {
        let name = level ?? ProcessInfo.processInfo.environment["AUTODIDACT_LOG_LEVEL"] ?? "info"
        let parsed = Logger.Level(rawValue: name.lowercased()) ?? .info
        if !bootstrapped {
            LoggingSystem.bootstrap { label in
                var h = StreamLogHandler.standardError(label: label)
                h.logLevel = parsed
                return h
            }
            bootstrapped = true
        }
    }

    public static func logger(_ label: String = "autodidact") -> Logger { Logger(label: label) }
}
