import Alignment
import Distributed
import Foundation
import Generation
import Logging
import Model
import Tokenizer

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
    /// Whether rank 0 has been told of this worker's stop request.
    var toldStop = false

    init(comm: Communicator, logger: Logger) {
        self.comm = comm
        self.logger = logger
    }

    func requireModel() throws -> LlamaModel {
        guard let model else { throw DistributedError.protocolError("rank \(comm.rank): no model loaded") }
        return model
    }

    func run() throws {
        var served = 0
        while true {
            let (command, _) = try comm.receive(WorkerCommand.self, from: 0, tag: Tags.command)
            served += 1
            try FailureInjection.check(rank: comm.rank, point: "\(command)".prefix(while: { $0 != "(" }).description, count: served)
            switch command {
            case .shutdown:
                for p in pendingSends { try p.wait() }
                return
            case .loadModel(let path, let precision):
                let loaded = try Checkpoint.load(path: path, precision: precision)
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
                try reply(.generated(chunk: chunk, results: results))
            case .setupTrainer(let setup):
                trainer = try DataParallelTrainer(model: try requireModel(), setup: setup, comm: comm)
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
                try reply(.scored(chunk: chunk, logps: values))
            case .scoreTrees(let chunk, let trees):
                if generator == nil { generator = Generator(model: try requireModel(), tokenizer: tokenizer, batchSize: 16) }
                let values = try generator!.score(trees)
                try reply(.treesScored(chunk: chunk, logps: values))
            case .setupPreference(let setup):
                preference = try setup.makeTrainer(model: try requireModel(), comm: comm)
                trainer = nil
                generator = nil
            case .gatherOptimizerState:
                guard let t = trainer?.trainer ?? preference?.trainer else {
                    throw DistributedError.protocolError("rank \(comm.rank): gatherOptimizerState before a trainer was set up")
                }
                _ = try t.gatheredState(comm: comm)
            case .setAdapters(let enabled):
                guard let a = try requireModel().adapters else { throw DistributedError.protocolError("rank \(comm.rank): setAdapters on a model without adapters") }
                a.enabled = enabled
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

extension WorkerDaemon {
    /// Sends a chunk's reply to rank 0, preceded once by `.stopRequested` when this worker was asked to stop
    /// (messages from one rank with one tag arrive in order, so rank 0 learns it before the chunk).
    func reply(_ r: WorkerReply) throws {
        if StopRequest.isRequested && !toldStop {
            toldStop = true
            pendingSends.append(try comm.sendAsync(WorkerReply.stopRequested, to: 0, tag: Tags.reply))
        }
        pendingSends.append(try comm.sendAsync(r, to: 0, tag: Tags.reply))
    }
}

/// Test hooks of the worker daemon: `AUTODIDACT_FAIL_RANK=R` makes rank R fail (throw, or with
/// `AUTODIDACT_FAIL_MODE=kill` end with SIGKILL, or with `signal` send itself SIGUSR1) at the command named by `AUTODIDACT_FAIL_AT`, or at its
/// N-th command with `AUTODIDACT_FAIL_AFTER=N`, or at its first. `AUTODIDACT_POINTS_LOG=<file>` appends
/// `worker-R/command/N` for every command a worker takes.
public enum FailureInjection {
    static func check(rank: Int, point: String, count: Int) throws {
        let env = ProcessInfo.processInfo.environment
        if let log = env["AUTODIDACT_POINTS_LOG"] { PointsLog.append("worker-\(rank)/command/\(count)", to: log) }
        guard let r = env["AUTODIDACT_FAIL_RANK"].flatMap(Int.init), r == rank else { return }
        if let at = env["AUTODIDACT_FAIL_AT"], at != point { return }
        if let n = env["AUTODIDACT_FAIL_AFTER"].flatMap(Int.init), n != count { return }
        if env["AUTODIDACT_FAIL_MODE"] == "signal" {
            // Preemption that reaches this worker only: SIGUSR1 to itself, once its handler has seen it, go on.
            kill(getpid(), SIGUSR1)
            while !StopRequest.isRequested { usleep(1000) }
            return
        }
        if env["AUTODIDACT_FAIL_MODE"] == "kill" { kill(getpid(), SIGKILL) }
        throw ClusterError("injected failure at \(point) (AUTODIDACT_FAIL_RANK=\(r))")
    }
}

/// Appends a line to a file with one write in append mode, so that the ranks of a job can share the file.
public enum PointsLog {
    public static func append(_ line: String, to path: String) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}
