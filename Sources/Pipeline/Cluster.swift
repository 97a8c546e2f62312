import Alignment
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
    /// Load weights, AdamW moments and step from a training checkpoint into the trainer set up last.
    case restoreCheckpoint(path: String)
    case trainStep(TrainBatch)
    case score(chunk: Int, prompts: [[Int32]], completions: [[Int32]])
    case setupPreference(PreferenceSetup)
    case preferenceStep(pairs: [TokenizedPair], learningRate: Float)
    case shutdown
}

public enum WorkerReply: Codable {
    case generated(chunk: Int, results: [GenerationResult])
    case scored(chunk: Int, logps: [Double])
}

/// The preference trainer's settings, the same on every rank.
public struct PreferenceSetup: Codable, Sendable {
    public var loss: String
    public var settings: LossSettings
    public var adamW: AdamWSettings
    public var maxGradNorm: Float?
    public var microBatchTokens: Int
    public var reductionShards: Int
    public init(loss: String, settings: LossSettings, adamW: AdamWSettings, maxGradNorm: Float?, microBatchTokens: Int = 4096,
                reductionShards: Int = 1) {
        self.loss = loss; self.settings = settings; self.adamW = adamW; self.maxGradNorm = maxGradNorm; self.microBatchTokens = microBatchTokens
        self.reductionShards = reductionShards
    }
    public func makeTrainer(model: LlamaModel, comm: Communicator) throws -> PreferenceTrainer {
        PreferenceTrainer(model: model, loss: try PreferenceLosses.named(loss, settings), adamW: adamW, maxGradNorm: maxGradNorm,
                          microBatchTokens: microBatchTokens, comm: comm, reductionShards: reductionShards)
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

    /// Runs `count` items in chunks handed out as ranks become free: each worker keeps up to two chunks
    /// queued; the coordinator takes chunks itself between collecting replies. `command(range)` is what a
    /// worker is sent for a chunk, `local(range)` computes one here, `reply` decodes a worker's answer.
    /// Results come back in item order, the same whatever the number of ranks or the chunk size.
    func distribute<R>(count: Int, chunkSize: Int, command: (Int, Range<Int>) -> WorkerCommand,
                       local: (Range<Int>) throws -> [R], reply: (WorkerReply) -> (chunk: Int, results: [R])?,
                       onChunk: ((Range<Int>) -> Void)? = nil, completed: [Int: [R]] = [:],
                       onResult: ((Int, [R]) throws -> Void)? = nil) throws -> [R] {
        let chunkSize = max(1, chunkSize)
        let chunks = (count + chunkSize - 1) / chunkSize
        func range(_ c: Int) -> Range<Int> { (c * chunkSize)..<min(count, (c + 1) * chunkSize) }
        var results = [[R]?](repeating: nil, count: chunks)
        for (c, r) in completed where c < chunks { results[c] = r }
        let todo = (0..<chunks).filter { results[$0] == nil }
        var cursor = 0
        var next: Int { cursor < todo.count ? todo[cursor] : chunks }
        var done = chunks - todo.count
        var outstanding = [Int](repeating: 0, count: size)
        func assign(_ w: Int) throws {
            let c = next
            cursor += 1
            outstanding[w] += 1
            pendingSends.append(try comm.sendAsync(command(c, range(c)), to: w, tag: Tags.command))
        }
        func handle(_ m: Message) throws {
            guard let (c, rs) = reply(try JSONDecoder().decode(WorkerReply.self, from: m.data)),
                  c < chunks, results[c] == nil, rs.count == range(c).count else {
                throw DistributedError.protocolError("rank \(m.source) returned an unexpected reply")
            }
            results[c] = rs
            done += 1
            outstanding[m.source] -= 1
            try onResult?(c, rs)
            onChunk?(range(c))
            if next < chunks { try assign(m.source) }
        }
        for w in workers { while outstanding[w] < 2 && next < chunks { try assign(w) } }
        while done < chunks {
            if next < chunks {
                let c = next
                cursor += 1
                let rs = try local(range(c))
                results[c] = rs
                done += 1
                try onResult?(c, rs)
                onChunk?(range(c))
                while let m = try comm.poll(from: nil, tag: Tags.reply) { try handle(m) }
            } else {
                try handle(try comm.receive(from: nil, tag: Tags.reply))
            }
            try pendingSends.removeAll { try $0.test() }
        }
        return results.flatMap { $0! }
    }

    /// Generates for every request across the ranks (see `distribute`).
    public func generate(_ requests: [GenerationRequest], params: SamplingParameters, batchSize: Int, chunkSize: Int,
                         local: Generator, onFinish: ((Int) -> Void)? = nil, completed: [Int: [GenerationResult]] = [:],
                         onResult: ((Int, [GenerationResult]) throws -> Void)? = nil) throws -> [GenerationResult] {
        try distribute(count: requests.count, chunkSize: chunkSize, 
                       command: { .generate(chunk: $0, requests: Array(requests[$1]), params: params, batchSize: batchSize) },
                       local: { r in try local.generate(Array(requests[r]), params: params) },
                       reply: { if case .generated(let c, let rs) = $0 { return (c, rs) } else { return nil } },
                       onChunk: { r in for k in r { onFinish?(k) } }, completed: completed, onResult: onResult)
    }

    /// Summed completion log-probabilities of every (prompt, completion) under the model every rank holds.
    public func score(model: LlamaModel, prompts: [[Int32]], completions: [[Int32]], chunkSize: Int = 64) throws -> [Double] {
        try distribute(count: prompts.count, chunkSize: chunkSize,
                       command: { .score(chunk: $0, prompts: Array(prompts[$1]), completions: Array(completions[$1])) },
                       local: { r in try CompletionScoring.logps(model, prompts: Array(prompts[r]), completions: Array(completions[r])) },
                       reply: { if case .scored(let c, let v) = $0 { return (c, v) } else { return nil } })
    }

    /// Reference log-probs for every pair, computed once (sharded) with the model every rank holds now.
    public func fillReference(_ pairs: inout [TokenizedPair], model: LlamaModel) throws {
        let values = try score(model: model, prompts: pairs.flatMap { [$0.prompt, $0.prompt] },
                               completions: pairs.flatMap { [$0.chosen, $0.rejected] })
        for k in pairs.indices { pairs[k].refChosen = values[2 * k]; pairs[k].refRejected = values[2 * k + 1] }
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
    var preference: PreferenceTrainer?
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
                // Models trained from a named shape use the built-in byte tokenizer (as rank 0 does).
                model = LlamaModel.randomlyInitialised(config: config, seed: seed); tokenizer = BPETokenizer.bytes()
                generator = nil; trainer = nil
            case .generate(let chunk, let requests, let params, let batchSize):
                let m = try requireModel()
                if generator == nil || generator!.batchSize != batchSize {
                    generator = Generator(model: m, tokenizer: tokenizer, batchSize: batchSize)
                }
                let results = try generator!.generate(requests, params: params)
                pendingSends.append(try comm.sendAsync(WorkerReply.generated(chunk: chunk, results: results), to: 0, tag: Tags.reply))
            case .setupTrainer(let setup):
                trainer = DataParallelTrainer(model: try requireModel(), setup: setup, comm: comm)
                preference = nil
                generator = nil  // weights will change
            case .trainStep(let batch):
                guard let trainer else { throw DistributedError.protocolError("rank \(comm.rank): trainStep before setupTrainer") }
                _ = try trainer.step(batch)
                generator = nil  // the weights changed
            case .restoreCheckpoint(let path):
                if let t = trainer?.trainer ?? preference?.trainer { try TrainingCheckpoint.restore(t, from: URL(fileURLWithPath: path)) }
                else { throw DistributedError.protocolError("rank \(comm.rank): restoreCheckpoint before a trainer was set up") }
                generator = nil
            case .score(let chunk, let prompts, let completions):
                let values = try CompletionScoring.logps(try requireModel(), prompts: prompts, completions: completions)
                pendingSends.append(try comm.sendAsync(WorkerReply.scored(chunk: chunk, logps: values), to: 0, tag: Tags.reply))
            case .setupPreference(let setup):
                preference = try setup.makeTrainer(model: try requireModel(), comm: comm)
                trainer = nil
                generator = nil
            case .preferenceStep(let pairs, let lr):
                guard let preference else { throw DistributedError.protocolError("rank \(comm.rank): preferenceStep before setupPreference") }
                _ = try preference.step(pairs, lr: lr)
                generator = nil
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
