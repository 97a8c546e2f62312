import Foundation

/// `autodidact status RUN_DIR`: where a run is and how it stands, from its files alone (`state.json`,
/// `progress.json`, the lock, the folders' evaluations and metrics), so that it reads the same from another
/// shell or a login node while the job runs.
public struct RunStatus {
    public enum Condition: Equatable {
        /// A process holds the run's lock (its "process N on HOST" line).
        case running(String)
        case finished
        /// The run ended unfinished and said why (`state.json`'s `stopped`).
        case stopped(RunState.Stop)
        /// Unfinished, no process holds the lock and no stop was recorded: killed outright.
        case killed
    }

    public let dir: URL
    public let state: RunState
    public let condition: Condition
    public let progress: ProgressRecord?
    /// The rounds the config schedules, when its copy in the run folder says.
    public let rounds: Int?

    public init(dir: URL) throws {
        self.dir = dir
        let holder = RunLock.holder(of: dir)
        // A run writes state.json at its first completed unit; before that, the lock says it is there.
        guard let state = try RunState.load(dir.appendingPathComponent(RunState.fileName))
                ?? (holder != nil ? RunState(configHash: "", worldSize: 0) : nil) else {
            throw PipelineError("\(dir.path): not a run folder (no \(RunState.fileName)); a folder of seeds has one in each seed-S folder")
        }
        self.state = state
        if let holder { condition = .running(holder) }
        else if state.finished { condition = .finished }
        else if let stop = state.stopped { condition = .stopped(stop) }
        else { condition = .killed }
        progress = FileManager.default.contents(atPath: dir.appendingPathComponent(ProgressRecord.fileName).path)
            .flatMap { try? JSONDecoder().decode(ProgressRecord.self, from: $0) }
        let config = FileManager.default.contents(atPath: dir.appendingPathComponent(RunState.configFileName).path)
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        rounds = ((config?["schedule"] as? [String: Any])?["rounds"] as? [String: Any])?["count"] as? Int
    }

    /// The report, as lines of text, at time `now` (seconds since 1970); without `figures`, the condition and
    /// place only (no evaluation or metrics file is read).
    public func text(now: Double = Date().timeIntervalSince1970, figures: Bool = true) throws -> String {
        var lines: [String] = []
        let place = [state.round.map { r in r == 0 ? "initial phases" : "round \(r)\(rounds.map { " of \($0)" } ?? "")" }, state.phase.map { "unit \($0)" }]
            .compactMap { $0 }.joined(separator: ", ")
        switch condition {
        case .running(let holder):
            lines.append("\(dir.path): running (\(holder))")
            lines.append("  " + (place.isEmpty ? "starting" : place))
            if let p = progress { lines += progressLines(p, now: now) }
        case .finished:
            lines.append("\(dir.path): finished (\(state.done.count) units of work)")
        case .stopped(let stop):
            lines.append("\(dir.path): stopped, \(stop.reason.rawValue)\(stop.unit.map { " during \($0)" } ?? "") \(Self.duration(now - stop.time)) ago")
            lines.append("  " + stop.message)
            lines.append("  " + (stop.reason == .preempted ? "--resume continues from the saved work" : "after a fix, --resume continues from the last completed unit"))
        case .killed:
            lines.append("\(dir.path): not running and not finished, with no stop recorded: killed (SIGKILL, out of memory, a lost node or a power cut)")
            if !place.isEmpty { lines.append("  it was at \(place)\(progress.map { " (last progress \(Self.duration(now - $0.updated)) ago)" } ?? "")") }
            lines.append("  --resume continues from the last completed unit\(state.done.last.map { " (\($0))" } ?? "")")
        }
        if figures { lines += try figureLines() }
        return lines.joined(separator: "\n")
    }

    func progressLines(_ p: ProgressRecord, now: Double) -> [String] {
        var line = "  \(p.unit): \(Self.duration(now - p.unitStarted)) in this unit"
        if let done = p.done, let total = p.total, let label = p.label {
            line += "; \(label) \(done) of \(total) (\(Int((100 * Double(done) / Double(max(total, 1))).rounded(.down)))%)"
            if let rate = p.rate, let left = p.remaining {
                line += String(format: ", about %@ left at %.3g per second", Self.duration(left), rate)
            }
        }
        var out = [line]
        if let s = p.status { out.append("  last: \(s)") }
        if now - p.updated > 600 { out.append("  no progress for \(Self.duration(now - p.updated))") }
        return out
    }

    /// The evaluations so far, and the last training step recorded.
    func figureLines() throws -> [String] {
        var out: [String] = []
        let rows = try SeedSweep.read(seed: 0, dir: dir).rows
        if let start = rows.first?.result {
            out.append("evaluations:")
            for row in rows {
                let r = row.result
                var line = String(format: "  %@: %.1f%% (95%% CI %.1f-%.1f)", row.label, 100 * r.accuracy, 100 * r.interval.low, 100 * r.interval.high)
                if r != start, r.correct.count == start.correct.count { line += String(format: ", p vs %@ = %.2g", start.label, r.pValue(against: start)) }
                if !row.promoted { line += ", not promoted" }
                out.append(line)
            }
        }
        if let step = lastTrainingStep() { out.append("last training step recorded: " + step) }
        return out
    }

    /// The last optimizer step of the latest folder with one in its metrics file.
    func lastTrainingStep() -> String? {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [])
            .filter { $0 == "initial" || $0.hasPrefix("round-") || $0 == "control" }
            .sorted { ($0 == "control" ? 1 : 0, $0 == "initial" ? "" : $0) < ($1 == "control" ? 1 : 0, $1 == "initial" ? "" : $1) }
        for name in names.reversed() {
            let url = RoundFolder(name, in: dir).url(.metrics)
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").reversed() {
                guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let step = o["step"] as? Int,
                      let phase = o["phase"] as? String else { continue }
                let keys = ["loss", "rewards/margins", "rewards/accuracies", "grad_norm", "lr"]
                let figures = keys.compactMap { k in (o[k] as? Double).map { String(format: "%@ %.4g", k, $0) } }
                return "\(phase) step \(step): " + figures.joined(separator: ", ")
            }
        }
        return nil
    }

    /// "2h 05m", "12m 30s", "45s".
    static func duration(_ seconds: Double) -> String {
        let s = Int(max(0, seconds).rounded())
        if s >= 3600 { return String(format: "%dh %02dm", s / 3600, s % 3600 / 60) }
        if s >= 60 { return String(format: "%dm %02ds", s / 60, s % 60) }
        return "\(s)s"
    }
}
