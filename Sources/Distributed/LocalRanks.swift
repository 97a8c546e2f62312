import Foundation

/// The ranks of this job on this host, seen through /proc (Linux): mpirun, or its daemon on each node, starts
/// them as siblings, each with its rank in its environment (`OMPI_COMM_WORLD_RANK`, or `PMIX_RANK`). When a
/// rank dies, Open MPI sends SIGTERM to the others and SIGKILL a second later; in that second rank 0 compares
/// the siblings with those it saw at the start and names the rank that is gone.
public enum LocalRanks {
    /// Rank to process id, for the ranks among this process's siblings (itself included); empty off Linux
    /// or outside mpirun.
    public static func snapshot() -> [Int: Int32] {
        let parent = getppid()
        var pids: [Int32] = []
        if let text = try? String(contentsOfFile: "/proc/\(parent)/task/\(parent)/children", encoding: .utf8) {
            pids = text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        var ranks: [Int: Int32] = [:]
        for pid in pids where isAlive(pid) {
            if let r = rank(of: pid) { ranks[r] = pid }
        }
        return ranks
    }

    /// The ranks of `before` whose process has ended (gone, or a zombie not yet reaped), in order.
    public static func gone(since before: [Int: Int32]) -> [Int] {
        before.filter { rank, pid in !isAlive(pid) || Self.rank(of: pid) != rank }.keys.sorted()
    }

    static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        // The state letter follows the command name in parentheses.
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state != "Z" && state != "X"
    }

    static func rank(of pid: Int32) -> Int? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
        for entry in data.split(separator: 0) {
            let s = String(decoding: entry, as: UTF8.self)
            for key in ["OMPI_COMM_WORLD_RANK=", "PMIX_RANK="] where s.hasPrefix(key) { return Int(s.dropFirst(key.count)) }
        }
        return nil
    }
}
