import Foundation

/// This process's resident memory as Linux reports it, for the per-phase peaks in `metrics.jsonl`.
enum ResidentMemory {
    /// Restarts the peak (VmHWM) at the current resident size (`/proc/self/clear_refs`, Linux 4.0+); a no-op
    /// where that file is absent or read-only.
    static func resetPeak() {
        guard let h = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return }
        try? h.write(contentsOf: Data("5".utf8))
        try? h.close()
    }

    /// Peak resident memory since the last reset, in MB (nil where /proc is absent).
    static func peakMB() -> Double? {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Double(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") else { return nil }
        return kb / 1024
    }
}
