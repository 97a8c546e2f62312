import Foundation

/// This process's resident memory as Linux reports it: the per-phase peaks in `metrics.jsonl`, and the
/// benchmarks' figures.
public enum ResidentMemory {
    /// Restarts the peak (VmHWM) at the current resident size (`/proc/self/clear_refs`, Linux 4.0+); a no-op
    /// where that file is absent or read-only.
    public static func resetPeak() {
        guard let h = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return }
        try? h.write(contentsOf: Data("5".utf8))
        try? h.close()
    }

    /// Peak resident memory since the last reset, in bytes (nil where /proc is absent).
    public static func peakBytes() -> Int? {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") else { return nil }
        return kb * 1024
    }

    /// `peakBytes` in MB.
    public static func peakMB() -> Double? { peakBytes().map { Double($0) / 1_048_576 } }
}
