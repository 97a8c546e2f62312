import CBLAS
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// The one place that decides how many threads numeric work uses.
///
/// OpenBLAS is kept single-threaded and every parallel region, matrix products included, is split here,
/// so there is exactly one pool of workers and no second pool spinning against it.
public enum Parallel {
    nonisolated(unsafe) private static var _threads: Int = {
        openblas_set_num_threads(1)
        return defaultThreadCount()
    }()

    /// Worker threads used by kernels (>= 1).
    public static var threads: Int {
        get { _threads }
        set { openblas_set_num_threads(1); _threads = max(1, newValue) }
    }

    /// `AUTODIDACT_THREADS` if set, else the number of CPUs this process may run on (its affinity mask,
    /// which mpirun's binding narrows), else the online CPU count.
    public static func defaultThreadCount() -> Int {
        if let s = getenv("AUTODIDACT_THREADS"), let n = Int(String(cString: s)), n > 0 { return n }
        let n = Int(autodidact_affinity_cpus())
        if n > 0 { return n }
        return max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }

    /// Runs `body(task)` for task in 0..<tasks, spread over the worker threads.
    @inline(__always)
    public static func tasks(_ tasks: Int, _ body: (Int) -> Void) {
        if tasks <= 0 { return }
        if tasks == 1 || threads == 1 {
            for t in 0..<tasks { body(t) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: tasks, execute: body)
    }

    /// Splits 0..<n into at most `threads` contiguous ranges of at least `grain` items and runs them in
    /// parallel. `body(lo, hi)` handles lo..<hi.
    @inline(__always)
    public static func range(_ n: Int, grain: Int = 1, _ body: (Int, Int) -> Void) {
        if n <= 0 { return }
        let parts = min(threads, max(1, n / max(grain, 1)))
        if parts == 1 { body(0, n); return }
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            body(n * p / parts, n * (p + 1) / parts)
        }
    }
}
