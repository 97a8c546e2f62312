import Foundation
import Model

/// `progress.json` in the run directory: where rank 0 is, for `autodidact status` in another shell. The
/// scheduler names each unit of work as it begins; the progress bars of the unit (a training phase's steps,
/// a generation's samples, a judge's chunks) add how much of it is done and how fast. The file is rewritten
/// at most every `interval` seconds and when a bar completes; it describes the process, not the results, so
/// no result depends on it and resume ignores it.
public struct ProgressRecord: Codable, Equatable {
    /// The unit of work (`round-2-0-generate`), and when this process began it (seconds since 1970).
    public var unit: String
    public var unitStarted: Double
    /// The latest progress bar of the unit: its label, units done of total, and its status text.
    public var label: String?
    public var done: Int?
    public var total: Int?
    public var status: String?
    /// The bar's first count and its time (work taken over from a resumed run is counted at once), so that
    /// the rate is this process's own.
    public var firstDone: Int?
    public var firstAt: Double?
    public var updated: Double
    public var pid: Int32
    public var host: String

    enum CodingKeys: String, CodingKey {
        case unit, label, done, total, status, updated, pid, host
        case unitStarted = "unit_started", firstDone = "first_done", firstAt = "first_at"
    }

    public static let fileName = "progress.json"

    public init(unit: String, unitStarted: Double, label: String? = nil, done: Int? = nil, total: Int? = nil, status: String? = nil,
                firstDone: Int? = nil, firstAt: Double? = nil, updated: Double, pid: Int32, host: String) {
        self.unit = unit; self.unitStarted = unitStarted; self.label = label; self.done = done; self.total = total; self.status = status
        self.firstDone = firstDone; self.firstAt = firstAt; self.updated = updated; self.pid = pid; self.host = host
    }

    /// Units per second since the bar's first count; nil before two counts.
    public var rate: Double? {
        guard let done, let firstDone, let firstAt, updated > firstAt, done > firstDone else { return nil }
        return Double(done - firstDone) / (updated - firstAt)
    }

    /// Seconds left at `rate`.
    public var remaining: Double? {
        guard let rate, let done, let total else { return nil }
        return Double(max(0, total - done)) / rate
    }
}

/// Writes `progress.json` for the run (rank 0): `begin` at each unit, and every `Progress` bar's advance.
final class RunProgress {
    let url: URL
    let interval: Double
    private var record: ProgressRecord?
    private var lastWrite = 0.0
    private let host: String
    private let lock = NSLock()

    init(directory: URL, interval: Double = 2) {
        url = directory.appendingPathComponent(ProgressRecord.fileName)
        self.interval = interval
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count - 1)
        host = String(cString: name)
    }

    /// A unit of work begins: the file names it at once.
    func begin(_ unit: String) {
        lock.lock(); defer { lock.unlock() }
        let now = Date().timeIntervalSince1970
        record = ProgressRecord(unit: unit, unitStarted: now, updated: now, pid: getpid(), host: host)
        write(force: true)
    }

    /// A progress bar of the current unit advanced.
    func advance(label: String, done: Int, total: Int, status: String) {
        lock.lock(); defer { lock.unlock() }
        guard var r = record else { return }
        let now = Date().timeIntervalSince1970
        if r.label != label || r.total != total || (r.done ?? 0) > done { r.firstDone = done; r.firstAt = now }
        r.label = label; r.done = done; r.total = total; r.status = status.isEmpty ? nil : status
        r.updated = now
        record = r
        write(force: done >= total)
    }

    /// Writes the latest counts now (the run is ending).
    func flush() {
        lock.lock(); defer { lock.unlock() }
        write(force: true)
    }

    private func write(force: Bool) {
        guard let record, force || record.updated - lastWrite >= interval else { return }
        lastWrite = record.updated
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        // Progress is for people: a full disk or a read-only folder must not stop the run over it.
        if let data = try? e.encode(record) { try? AtomicFile.write(data, to: url) }
    }
}
