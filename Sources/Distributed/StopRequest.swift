import Synchronization

/// A request to stop (preemption: SIGTERM or SIGUSR1 on some rank), as this process knows it. Each training
/// step's all-reduce carries it (`Trainer.synchronizedUpdate`), so every rank learns at the same step that
/// some rank was asked to stop, whichever rank the signal reached.
public enum StopRequest {
    static let flag = Atomic<Bool>(false)
    public static var isRequested: Bool { flag.load(ordering: .sequentiallyConsistent) }
    public static func set() { flag.store(true, ordering: .sequentiallyConsistent) }
}
