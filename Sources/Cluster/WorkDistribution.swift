import Alignment
import Distributed
import Foundation
import Generation
import Model

extension Cluster {
    /// Runs `count` items in chunks handed out as ranks become free: each worker keeps up to two chunks
    /// queued; the coordinator takes chunks itself between collecting replies. `command(range)` is what a
    /// worker is sent for a chunk, `local(range)` computes one here, `reply` decodes a worker's answer.
    /// Results come back in item order, the same whatever the number of ranks or the chunk size.
    /// When `onResult` throws an `OrderlyStop` (a run stopped on request after saving a chunk), no chunk is
    /// handed out any more; the chunks the workers hold are collected and passed to `onResult` too (so that
    /// they are saved), and then the stop is thrown, with every worker idle.
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
        var stop: OrderlyStop?
        func deliver(_ c: Int, _ rs: [R]) throws {
            do { try onResult?(c, rs) } catch let s as OrderlyStop { stop = stop ?? s }
        }
        func assign(_ w: Int) throws {
            let c = next
            cursor += 1
            outstanding[w] += 1
            pendingSends.append(try comm.sendAsync(command(c, range(c)), to: w, tag: Tags.command))
        }
        func handle(_ m: Message) throws {
            let decoded = try JSONDecoder().decode(WorkerReply.self, from: m.data)
            if case .stopRequested = decoded { StopRequest.set(); return }
            guard let (c, rs) = reply(decoded),
                  c < chunks, results[c] == nil, rs.count == range(c).count else {
                throw DistributedError.protocolError("rank \(m.source) returned an unexpected reply")
            }
            results[c] = rs
            done += 1
            outstanding[m.source] -= 1
            try deliver(c, rs)
            onChunk?(range(c))
            if next < chunks && stop == nil { try assign(m.source) }
        }
        for w in workers { while outstanding[w] < 2 && next < chunks { try assign(w) } }
        while done < chunks {
            if stop != nil {
                if outstanding.allSatisfy({ $0 == 0 }) { break }
                try handle(try comm.receive(from: nil, tag: Tags.reply))
            } else if next < chunks {
                let c = next
                cursor += 1
                let rs = try local(range(c))
                results[c] = rs
                done += 1
                try deliver(c, rs)
                onChunk?(range(c))
                while let m = try comm.poll(from: nil, tag: Tags.reply) { try handle(m) }
            } else {
                try handle(try comm.receive(from: nil, tag: Tags.reply))
            }
            try pendingSends.removeAll { try $0.test() }
        }
        if let stop { throw stop }
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
    /// With `journal`, finished chunks are saved and a resumed call takes them back.
    public func score(model: LlamaModel, prompts: [[Int32]], completions: [[Int32]], chunkSize: Int = 64, journal: ChunkJournal? = nil) throws -> [Double] {
        let saved = try journal?.nextCall(Double.self)
        return try distribute(count: prompts.count, chunkSize: chunkSize,
                              command: { .score(chunk: $0, prompts: Array(prompts[$1]), completions: Array(completions[$1])) },
                              local: { r in try CompletionScoring.logps(model, prompts: Array(prompts[r]), completions: Array(completions[r])) },
                              reply: { if case .scored(let c, let v) = $0 { return (c, v) } else { return nil } },
                              completed: saved?.completed ?? [:], onResult: saved?.save)
    }

    /// Summed log-probabilities of every branch of every tree (`Generator.score`) under the model every
    /// rank holds, in chunks of `chunkSize` trees: the same values whatever the number of ranks.
    /// `completed` and `onResult` as in `generate`.
    public func score(trees: [ScoringTree], chunkSize: Int = 16, local: Generator, completed: [Int: [[Double]]] = [:],
                      onResult: ((Int, [[Double]]) throws -> Void)? = nil) throws -> [[Double]] {
        try distribute(count: trees.count, chunkSize: chunkSize,
                       command: { .scoreTrees(chunk: $0, trees: Array(trees[$1])) },
                       local: { r in try local.score(Array(trees[r])) },
                       reply: { if case .treesScored(let c, let v) = $0 { return (c, v) } else { return nil } },
                       completed: completed, onResult: onResult)
    }

    /// Reference log-probs for every pair, computed once (sharded) with the model every rank holds now.
    public func fillReference(_ pairs: inout [TokenizedPair], model: LlamaModel, journal: ChunkJournal? = nil) throws {
        let values = try score(model: model, prompts: pairs.flatMap { [$0.prompt, $0.prompt] },
                               completions: pairs.flatMap { [$0.chosen, $0.rejected] }, journal: journal)
        for k in pairs.indices { pairs[k].refChosen = values[2 * k]; pairs[k].refRejected = values[2 * k + 1] }
    }
}

