import CBLAS
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The one place that decides how many threads numeric work uses.
///
/// OpenBLAS is kept single-threaded and every parallel region, matrix products included, is split here
/// over one pool of persistent workers, so no second pool spins against it. A parallel region allocates
/// nothing: workers pick task indices from an atomic counter and the caller works alongside them.
public enum Parallel {
    nonisolated(unsafe) private static var _threads: Int = {
        openblas_set_num_threads(1)
        return defaultThreadCount()
    }()

    /// Worker threads used by kernels (>= 1), the calling thread included.
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

    /// Runs `body(task)` for task in 0..<tasks, spread over the threads (dynamically: a thread that
    /// finishes early takes the next task). Nested calls run inline.
    @inline(__always)
    public static func tasks(_ tasks: Int, _ body: (Int) -> Void) {
        if tasks <= 0 { return }
        let t = threads
        if tasks == 1 || t == 1 || !WorkerPool.shared.tryRun(tasks: tasks, threads: t, body) {
            for i in 0..<tasks { body(i) }
        }
    }

    /// Parallel regions handed to the worker pool since the process started.
    public static var regionsRun: Int { WorkerPool.shared.regions.load(ordering: .relaxed) }

    /// Splits 0..<n into at most `threads` contiguous ranges of at least `grain` items and runs them in
    /// parallel. `body(lo, hi)` handles lo..<hi.
    @inline(__always)
    public static func range(_ n: Int, grain: Int = 1, _ body: (Int, Int) -> Void) {
        if n <= 0 { return }
        let parts = min(threads, max(1, n / max(grain, 1)))
        if parts == 1 { body(0, n); return }
        tasks(parts) { p in body(n * p / parts, n * (p + 1) / parts) }
    }
}

/// Persistent worker threads. One region runs at a time; a region started while another is running
/// (from inside a task) reports failure and the caller runs it inline.
///
/// Who computes a task never changes its result (tasks write disjoint outputs in a fixed order), so the
/// pool is free to let whoever is running take the work. That matters when the cores are shared (a busy
/// cluster node, other jobs, `yes > /dev/null`): a helper that has not started by the time the caller
/// has taken every task is called off instead of waited for, and idle helpers spin only briefly before
/// sleeping, so a descheduled thread costs the region nothing and a waiting one burns little.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    /// Spins of an idle helper before it sleeps (tens of microseconds: back-to-back regions find it awake).
    static let idleSpins = 50_000
    /// Spins of the caller waiting for started helpers before it yields its core to them.
    static let waitSpins = 2_000

    private var workers = 0
    private let busy = Atomic<Bool>(false)
    private let generation = Atomic<Int>(0)
    private let nextTask = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    // Job description, written before `generation` is bumped and read after it is seen.
    /// Holds the caller's closure for the duration of a region, in storage allocated once, so that a
    /// region allocates nothing (a local or a property would be boxed on every call).
    private let job = UnsafeMutablePointer<Job>.allocate(capacity: 1)
    private struct Job { let body: (Int) -> Void }
    private var taskCount = 0
    /// Per helper: the generation it is asked to take part in; it claims it by swapping in the negative,
    /// or the caller calls it off by swapping in 0.
    /// Made once, so that no helper ever reads the array while it grows.
    private let slots: [WorkerSlot] = (0..<WorkerPool.maxHelpers).map { _ in WorkerSlot() }
    static let maxHelpers = 1024
    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()

    private init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
    }

    /// Parallel regions run so far (each costs one 32-byte closure context: see `tryRun`).
    let regions = Atomic<Int>(0)

    /// Runs a region. Handing the caller's non-escaping closure to other threads goes through
    /// `withoutActuallyEscaping`, whose reabstraction thunk Swift 6.3 boxes in one 32-byte heap object:
    /// the only allocation a parallel region makes (`autodidact-bench allocations` counts them).
    func tryRun(tasks: Int, threads: Int, _ work: (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        regions.add(1, ordering: .relaxed)
        defer { busy.store(false, ordering: .releasing) }
        let helpers = min(threads, tasks, WorkerPool.maxHelpers + 1) - 1
        while workers < helpers { spawnWorker(index: workers); workers += 1 }
        withoutActuallyEscaping(work) { escapable in
            job.initialize(to: Job(body: escapable))
            taskCount = tasks
            nextTask.store(0, ordering: .relaxed)
            finished.store(0, ordering: .relaxed)
            let next = generation.load(ordering: .relaxed) + 1
            for i in 0..<helpers { slots[i].assigned.store(next, ordering: .relaxed) }
            // Both sequentially consistent: a worker that announced it is going to sleep either sees the
            // new generation or is seen here and woken.
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(&mutex)
                pthread_cond_broadcast(&wake)
                pthread_mutex_unlock(&mutex)
            }
            drain()
            // Every task is taken. Call off the helpers that have not started; wait for the others.
            var started = 0
            for i in 0..<helpers {
                if !slots[i].assigned.compareExchange(expected: next, desired: 0, ordering: .acquiringAndReleasing).exchanged { started += 1 }
            }
            var spins = 0
            while finished.load(ordering: .acquiring) < started {
                spins += 1
                if spins > WorkerPool.waitSpins { sched_yield() }
            }
            job.deinitialize(count: 1)
        }
        return true
    }

    private func drain() {
        let n = taskCount
        let work = job
        while true {
            let t = nextTask.add(1, ordering: .relaxed).oldValue
            if t >= n { return }
            work.pointee.body(t)
        }
    }

    private func spawnWorker(index: Int) {
        // The worker starts from the generation current now, so it takes part in the region about to begin.
        let box = Unmanaged.passRetained(WorkerStart(pool: self, index: index, seen: generation.load(ordering: .sequentiallyConsistent)))
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let start = Unmanaged<WorkerStart>.fromOpaque(raw!).takeRetainedValue()
            start.pool.workerLoop(index: start.index, seen: start.seen)
            return nil
        }, box.toOpaque())
        if rc == 0 { pthread_detach(thread) } else { box.release() }
    }

    private func workerLoop(index: Int, seen initial: Int) {
        var seen = initial
        while true {
            // Spin briefly for the next region, then sleep until woken.
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins > WorkerPool.idleSpins {
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    pthread_mutex_lock(&mutex)
                    while generation.load(ordering: .sequentiallyConsistent) == seen { pthread_cond_wait(&wake, &mutex) }
                    pthread_mutex_unlock(&mutex)
                    sleepers.subtract(1, ordering: .sequentiallyConsistent)
                    break
                }
            }
            seen = generation.load(ordering: .acquiring)
            // Claim this generation unless the caller has called it off (or it is already over).
            if slots[index].assigned.compareExchange(expected: seen, desired: -seen, ordering: .acquiringAndReleasing).exchanged {
                drain()
                finished.add(1, ordering: .releasing)
            }
        }
    }
}

private final class WorkerSlot: Sendable {
    let assigned = Atomic<Int>(-1)
}

private final class WorkerStart {
    let pool: WorkerPool
    let index: Int
    let seen: Int
    init(pool: WorkerPool, index: Int, seen: Int) { self.pool = pool; self.index = index; self.seen = seen }
}
