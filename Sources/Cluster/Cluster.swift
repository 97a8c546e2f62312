import Alignment
import Distributed
import Foundation
import Generation
import Kernels
import Logging
import Model
import Tokenizer

/// An error after which a job ends in order, not by abort: rank 0 tells the workers to shut down, then
/// rethrows it (a run stopped on request with its work saved). It must be thrown between commands, when the
/// workers wait for the next one.
public protocol OrderlyStop: Error {}

/// The ranks of a run as the coordinator sees them. Every operation mirrors itself: one call tells the
/// worker daemons (when there are any) and does rank 0's share, so the code that calls it never asks how
/// many ranks there are. With one process it is just the local work.
public final class Cluster {
    public let comm: Communicator
    let logger: Logger
    var pendingSends: [PendingSend] = []
    /// What rank 0 is doing (a run's phase key), named when a worker's failure ends the job.
    public var activity: String? {
        didSet { activityMirror?.set(activity) }
    }
    /// `activity` for the SIGTERM report, which runs on another thread.
    var activityMirror: SharedText?

    public init(comm: Communicator, logger: Logger) {
        self.comm = comm
        self.logger = logger
    }

    /// The number of ranks, for messages and `state.json` (never for deciding what to send).
    public var size: Int { comm.size }
    var workers: Range<Int> { 1..<comm.size }

    /// Says so when a run recorded on `ranks` ranks continues on another number of them.
    public func noteResumed(fromRanks ranks: Int) {
        if ranks != size {
            logger.warning("resume: the run started on \(ranks) rank(s) and continues on \(size); training sums in another order from here")
        }
    }

    /// Sends `command` to every worker (without waiting for them to take it); nothing on one process.
    func broadcast(_ command: WorkerCommand) throws {
        for w in workers { pendingSends.append(try comm.sendAsync(command, to: w, tag: Tags.command)) }
        try pendingSends.removeAll { try $0.test() }
    }

    /// Runs `body` on the coordinator and the worker daemon on every other rank; afterwards the workers
    /// are shut down. A failure anywhere ends every rank with a non-zero status naming the rank.
    public static func run(logger: Logger, _ body: (Cluster) throws -> Void) throws {
        let comm = try Communicators.make()
        if comm.size == 1 {
            try body(Cluster(comm: comm, logger: logger))
            return
        }
        do {
            if comm.rank == 0 {
                let cluster = Cluster(comm: comm, logger: logger)
                cluster.reportDeadRanksOnSIGTERM()
                var stop: OrderlyStop?
                do { try body(cluster) } catch let s as OrderlyStop { stop = s } catch let DistributedError.rankFailed(rank, message) {
                    comm.abort(reporting: "rank \(rank) failed\(cluster.activity.map { " during \($0)" } ?? ""): \(message)")
                }
                try cluster.broadcast(.shutdown)
                for p in cluster.pendingSends { try p.wait() }
                try comm.barrier()
                if let stop { throw stop }
            } else {
                try WorkerDaemon(comm: comm, logger: logger).run()
                try comm.barrier()
            }
        } catch let stop as OrderlyStop {
            throw stop
        } catch let DistributedError.rankFailed(rank, message) {
            comm.abort(reporting: "rank \(rank) failed: \(message)")
        } catch {
            comm.abort(reporting: "\(error)")
        }
    }

    // MARK: models

    /// How a model comes to be: read from a path, or initialised at random from a configuration (a model
    /// trained from scratch, with the byte tokenizer).
    public enum ModelSource: Equatable, Sendable {
        case file(String)
        case initialised(LlamaConfig, seed: UInt64)
    }

    /// Reads the model at `path` here and on every worker; warnings go to the log. `precision: .quantized`
    /// keeps a GGUF file's matrices in their blocks (a frozen model: a judge, a teacher).
    public func load(_ path: String, precision: Precision = .float32) throws -> LoadedModel {
        let loaded = try Cluster.read(path, precision: precision, logger: logger)
        try broadcast(.loadModel(path: path, precision: precision))
        return loaded
    }

    /// A randomly initialised model, the same here and on every worker.
    public func initialise(_ config: LlamaConfig, seed: UInt64) throws -> LlamaModel {
        try mirror(.initialised(config, seed: seed))
        return LlamaModel.randomlyInitialised(config: config, seed: seed)
    }

    /// The workers take up the model rank 0 already holds, built from `source` (after they served another
    /// model, such as a teacher or a judge).
    public func mirror(_ source: ModelSource) throws {
        switch source {
        case .file(let p): try broadcast(.loadModel(path: p, precision: .float32))
        case .initialised(let c, let seed): try broadcast(.initModel(configJSON: String(decoding: c.jsonData(), as: UTF8.self), seed: seed))
        }
    }

    /// Reads a model on this rank only (for commands without workers), its warnings logged.
    public static func read(_ path: String, precision: Precision = .float32, logger: Logger) throws -> LoadedModel {
        let loaded = try Checkpoint.load(path: path, precision: precision)
        for w in loaded.warnings { logger.warning("\(w)") }
        return loaded
    }

    // MARK: training

    /// A data-parallel supervised trainer of `model` on every rank.
    public func trainer(_ setup: TrainerSetup, model: LlamaModel) throws -> MirroredTrainer {
        try broadcast(.setupTrainer(setup))
        return MirroredTrainer(cluster: self, local: try DataParallelTrainer(model: model, setup: setup, comm: comm))
    }

    /// A data-parallel preference trainer of `model` on every rank.
    public func preferenceTrainer(_ setup: PreferenceSetup, model: LlamaModel) throws -> MirroredPreferenceTrainer {
        try broadcast(.setupPreference(setup))
        return MirroredPreferenceTrainer(cluster: self, local: try setup.makeTrainer(model: model, comm: comm))
    }

    /// The whole optimizer state of `trainer` here (under ZeRO-1 gathered from every rank's shard).
    func gatheredState(_ trainer: Trainer) throws -> OptimizerState {
        if trainer.isSharded { try broadcast(.gatherOptimizerState) }
        guard let state = try trainer.gatheredState(comm: comm) else { throw ClusterError("rank 0 gathered no optimizer state") }
        return state
    }

    /// `body` with the model's LoRA adapters off on every rank (the base model), then on again.
    public func withAdaptersOff<T>(_ model: LlamaModel, _ body: () throws -> T) throws -> T {
        guard let a = model.adapters else { return try body() }
        a.enabled = false
        try broadcast(.setAdapters(enabled: false))
        defer { a.enabled = true }
        let result = try body()
        try broadcast(.setAdapters(enabled: true))
        return result
    }

    func restore(_ trainer: Trainer, from url: URL) throws {
        try TrainingCheckpoint.restore(trainer, from: url)
        try broadcast(.restoreCheckpoint(path: url.path))
    }
}

/// A supervised trainer on every rank: each step is sent to the workers and taken here.
public final class MirroredTrainer {
    let cluster: Cluster
    public let local: DataParallelTrainer
    init(cluster: Cluster, local: DataParallelTrainer) { self.cluster = cluster; self.local = local }
    public var trainer: Trainer { local.trainer }
    public var syncSeconds: Double { local.syncSeconds }
    public func step(_ batch: TrainBatch) throws -> Trainer.StepResult {
        try cluster.broadcast(.trainStep(batch))
        return try local.step(batch)
    }
    /// Weights, optimizer moments and step from a checkpoint directory, on every rank.
    public func restore(from url: URL) throws { try cluster.restore(trainer, from: url) }
    /// The whole optimizer state on rank 0, for a checkpoint.
    public func optimizerState() throws -> OptimizerState { try cluster.gatheredState(trainer) }
}

/// A preference trainer on every rank: each step is sent to the workers and taken here.
public final class MirroredPreferenceTrainer {
    let cluster: Cluster
    public let local: PreferenceTrainer
    init(cluster: Cluster, local: PreferenceTrainer) { self.cluster = cluster; self.local = local }
    public var trainer: Trainer { local.trainer }
    public func step(_ pairs: [TokenizedPair], lr: Float) throws -> PreferenceStepMetrics {
        try cluster.broadcast(.preferenceStep(pairs: pairs, learningRate: lr))
        return try local.step(pairs, lr: lr)
    }
    public func restore(from url: URL) throws { try cluster.restore(trainer, from: url) }
    public func optimizerState() throws -> OptimizerState { try cluster.gatheredState(trainer) }
}

extension Cluster {
    /// When a rank dies, Open MPI sends SIGTERM to the others and SIGKILL a second later, so rank 0 cannot end
    /// the job in its own words: on SIGTERM it compares the ranks on its host with those at the start and
    /// names the one that is gone and what the job was doing. Ranks on other hosts are not seen.
    func reportDeadRanksOnSIGTERM() {
        let before = LocalRanks.snapshot()
        guard before.count > 1 else { return }
        let activity = SharedText()
        activity.set(self.activity)
        activityMirror = activity
        let unseen = comm.size - before.count
        StopRequest.onSignal = { [logger] signal in
            guard signal == SIGTERM else { return }
            let gone = LocalRanks.gone(since: before)
            let doing = activity.get().map { " during \($0)" } ?? ""
            if gone.isEmpty {
                logger.warning("rank 0: SIGTERM\(doing); every rank on this host is alive\(unseen > 0 ? " (\(unseen) on other hosts not checked)" : ""): stopping at the next boundary")
            } else {
                let names = gone.map { "rank \($0) (pid \(before[$0]!))" }.joined(separator: ", ")
                FileHandle.standardError.write(Data("error: rank 0: \(names) ended without a word\(doing) (killed, or out of memory); Open MPI is ending the job\n".utf8))
            }
        }
    }
}

/// A string one thread sets and another reads.
final class SharedText: @unchecked Sendable {
    private let lock = NSLock()
    private var value: String?
    func set(_ v: String?) { lock.lock(); value = v; lock.unlock() }
    func get() -> String? { lock.lock(); defer { lock.unlock() }; return value }
}
