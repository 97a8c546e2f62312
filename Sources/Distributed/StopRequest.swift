import Synchronization

/// A request to stop (preemption: SIGTERM or SIGUSR1 on some rank), as this process knows it. Each training
/// step's all-reduce carries it (`Trainer.synchronizedUpdate`), so every rank learns at the same step that
/// some rank was asked to stop, whichever rank the signal reached.
public enum StopRequest {
    static let flag = Atomic<Bool>(false)
    public static var isRequested: Bool { flag.load(ordering: .sequentiallyConsistent) }
    public static func set() { flag.store(true, ordering: .sequentiallyConsistent) }

    /// Called (off the signal, on a dispatch queue) with each SIGTERM or SIGUSR1 this process gets; rank 0
    /// sets it to say at once whether a rank has died (Open MPI's SIGTERM before it ends the job).
    nonisolated(unsafe) public static var onSignal: (@Sendable (Int32) -> Void)?
}
