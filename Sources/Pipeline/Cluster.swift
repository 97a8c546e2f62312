import Distributed
import Foundation
import Generation
import Kernels
import Logging
import Model
import Tokenizer

/// What the coordinator asks of a worker daemon. Workers hold no schedule state: each command carries
/// everything needed to carry it out.
public enum WorkerCommand: Codable {
    case loadModel(path: String)
    case initModel(configJSON: String, seed: UInt64)
    case generate(chunk: Int, requests: [GenerationRequest], params: SamplingParameters, batchSize: Int)
    case setupTrainer(TrainerSetup)
    case trainStep(TrainBatch)
    case shutdown
}

public enum WorkerReply: Codable {
    case generated(chunk: Int, results: [GenerationResult])
}

/// Optimizer settings every rank applies identically.
public struct TrainerSetup: Codable, Sendable {
    public var adamW: AdamWSettings
    public var maxGradNorm: Float?
    /// Most tokens in one micro-batch (gradient accumulation beyond it).
    public var microBatchTokens: Int
    /// Compare weight checksums across ranks every this many steps (0: never).
    public var checksumEvery: Int
    public init(adamW: AdamWSettings, maxGradNorm: Float?, microBatchTokens: Int = 4096, checksumEvery: Int = 10) {
        self.adamW = adamW; self.maxGradNorm = maxGradNorm; self.microBatchTokens = microBatchTokens
        self.checksumEvery = checksumEvery
    }
}

/// One optimizer step's global batch: sequences with their targets (-1 = not scored).
public struct TrainBatch: Codable, Sendable {
    public var ids: [[Int32]]
    public var targets: [[Int32]]
    public var learningRate: Float
    public init(ids: [[Int32]], targets: [[Int32]], learningRate: Float) {
        self.ids = ids; self.targets = targets; self.learningRate = learningRate
    }
}

/// The ranks of a run as the coordinator sees them: it sends commands to the worker daemons and does its
/// own share of every phase. With one process it is just the local work.
public final class Cluster {
    public let comm: Communicator
    let logger: Logger
    var pendingSends: [PendingSend] = []

    public init(comm: Communicator, logger: Logger) {
        self.comm = comm
        self.logger = logger
    }

    public var size: Int { comm.size }
    public var workers: Range<Int> { 1..<comm.size }

    /// Sends `command` to every worker (without waiting for them to take it).
    public func broadcast(_ command: WorkerCommand) throws {
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
                try body(cluster)
                try cluster.broadcast(.shutdown)
                for p in cluster.pendingSends { try p.wait() }
                try comm.barrier()
            } else {
                try WorkerDaemon(comm: comm, logger: logger).run()
                try comm.barrier()
            }
        } catch let DistributedError.rankFailed(rank, message) {
            comm.abort(reporting: "rank \(rank) failed: \(message)")
        } catch {
            comm.abort(reporting: "\(error)")
        }
    }

    // MARK: dynamic work distribution

    /// Generates for every request, in chunks handed out as ranks become free (each worker keeps up to two
    /// chunks queued; the coordinator takes chunks itself between collecting replies). Results come back in
    /// request order, the same whatever the number of ranks or the chunk size.
    public func generate(_ requests: [GenerationRequest], params: SamplingParameters, batchSize: Int, chunkSize: Int,
                         local: Generator, onFinish: ((Int) -> Void)? = nil) throws -> [GenerationResult] {
        let chunkSize = max(1, chunkSize)
        let chunks = (requests.count + chunkSize - 1) / chunkSize
        func range(_ c: Int) -> Range<Int> { (c * chunkSize)..<min(requests.count, (c + 1) * chunkSize) }
        var results = [[GenerationResult]?](repeating: nil, count: chunks)
        var next = 0, done = 0
        var outstanding = [Int](repeating: 0, count: size)
        func assign(_ w: Int) throws {
            let c = next
            next += 1
            outstanding[w] += 1
            let cmd = WorkerCommand.generate(chunk: c, requests: Array(requests[range(c)]), params: params, batchSize: batchSize)
            pendingSends.append(try comm.sendAsync(cmd, to: w, tag: Tags.command))
        }
        func handle(_ m: Message) throws {
            guard case .generated(let c, let rs) = try JSONDecoder().decode(WorkerReply.self, from: m.data) else { return }
            guard c < chunks, results[c] == nil, rs.count == range(c).count else {
                throw DistributedError.protocolError("rank \(m.source) returned an unexpected chunk \(c)")
            }
            results[c] = rs
            done += 1
            outstanding[m.source] -= 1
            for k in range(c) { onFinish?(k) }
            if next < chunks { try assign(m.source) }
        }
        for w in workers { while outstanding[w] < 2 && next < chunks { try assign(w) } }
        while done < chunks {
            if next < chunks {
                let c = next
                next += 1
                let base = range(c).lowerBound
                results[c] = try local.generate(Array(requests[range(c)]), params: params) { onFinish?(base + $0) }
                done += 1
                while let m = try comm.poll(from: nil, tag: Tags.reply) { try handle(m) }
            } else {
                try handle(try comm.receive(from: nil, tag: Tags.reply))
            }
            try pendingSends.removeAll { try $0.test() }
        }
        return results.flatMap { $0! }
    }
}

/// A worker rank's loop: receive a command, carry it out, answer; until shut down.
final class WorkerDaemon {
    let comm: Communicator
    let logger: Logger
    var model: LlamaModel?
    var tokenizer: BPETokenizer?
    var generator: Generator?
    var trainer: DataParallelTrainer?
    var pendingSends: [PendingSend] = []

    init(comm: Communicator, logger: Logger) {
        self.comm = comm
        self.logger = logger
    }

    func requireModel() throws -> LlamaModel {
        guard let model else { throw DistributedError.protocolError("rank \(comm.rank): no model loaded") }
        return model
    }

    func run() throws {
        while true {
            let (command, _) = try comm.receive(WorkerCommand.self, from: 0, tag: Tags.command)
            try FailureInjection.check(rank: comm.rank, point: "\(command)".prefix(while: { $0 != "(" }).description)
            switch command {
            case .shutdown:
                for p in pendingSends { try p.wait() }
                return
            case .loadModel(let path):
                let loaded = try Checkpoint.load(path: path)
                model = loaded.model; tokenizer = loaded.tokenizer; generator = nil; trainer = nil
            case .initModel(let json, let seed):
                let config = try LlamaConfig.parse(Data(json.utf8), file: "config from rank 0").config
                model = LlamaModel.randomlyInitialised(config: config, seed: seed); generator = nil; trainer = nil
            case .generate(let chunk, let requests, let params, let batchSize):
                let m = try requireModel()
                if generator == nil || generator!.batchSize != batchSize {
                    generator = Generator(model: m, tokenizer: tokenizer, batchSize: batchSize)
                }
                let results = try generator!.generate(requests, params: params)
                pendingSends.append(try comm.sendAsync(WorkerReply.generated(chunk: chunk, results: results), to: 0, tag: Tags.reply))
            case .setupTrainer(let setup):
                trainer = DataParallelTrainer(model: try requireModel(), setup: setup, comm: comm)
                generator = nil  // weights will change
            case .trainStep(let batch):
                guard let trainer else { throw DistributedError.protocolError("rank \(comm.rank): trainStep before setupTrainer") }
                _ = try trainer.step(batch)
            }
            try pendingSends.removeAll { try $0.test() }
        }
    }
}

/// Test hook: `AUTODIDACT_FAIL_RANK=r` makes rank r fail when it reaches command `AUTODIDACT_FAIL_AT`
/// (default: the first command), by throwing or, with `AUTODIDACT_FAIL_MODE=kill`, by SIGKILL.
enum FailureInjection {
    static func check(rank: Int, point: String) throws {
        let env = ProcessInfo.processInfo.environment
        guard let r = env["AUTODIDACT_FAIL_RANK"].flatMap(Int.init), r == rank else { return }
        if let at = env["AUTODIDACT_FAIL_AT"], at != point { return }
        if env["AUTODIDACT_FAIL_MODE"] == "kill" { kill(getpid(), SIGKILL) }
        throw PipelineError("injected failure at \(point) (AUTODIDACT_FAIL_RANK=\(r))")
    }
}
