import Foundation
import Kernels
import Model

/// One scoring question as token ids: the prefix its candidates share (at least one token) and each
/// candidate's own tokens after it (at least one each).
public struct ScoringTree: Codable, Sendable, Equatable {
    public var prefix: [Int32]
    public var branches: [[Int32]]
    public init(prefix: [Int32], branches: [[Int32]]) { self.prefix = prefix; self.branches = branches }

    /// The tree of full sequences: their longest common prefix, kept short enough that every sequence
    /// has at least one token of its own. Sequences must be non-empty and share their first token. With a
    /// `context`, sequences longer than it lose the same number of leading tokens (the prompt's start),
    /// as generation truncates prompts.
    public init(sequences all: [[Int32]], context: Int? = nil) throws {
        let drop = context.map { max(0, (all.map(\.count).max() ?? 0) - $0) } ?? 0
        let sequences = all.map { Array($0.dropFirst(drop)) }
        guard let first = sequences.first, sequences.allSatisfy({ !$0.isEmpty }) else { throw GenerationError("a scoring question has no candidates or an empty one") }
        var shared = first.count
        for s in sequences.dropFirst() {
            var n = 0
            while n < min(shared, s.count) && s[n] == first[n] { n += 1 }
            shared = n
        }
        shared = min(shared, sequences.map(\.count).min()! - 1)
        guard shared >= 1 else { throw GenerationError("a scoring question's candidates share no prompt token") }
        prefix = Array(first[..<shared])
        branches = sequences.map { Array($0[shared...]) }
    }
}

extension Generator {
    /// Summed log-probabilities (temperature 1) of every branch of every tree after its prefix, with the
    /// decoding engine: each prefix is run once into a cache slot (what the prefixes of a group of trees
    /// share, once for the group); a branch of one token is read from the prefix's last logits, a longer
    /// one runs in a slot holding a copy of the prefix. Every row is computed on its own (`BatchForward`:
    /// a row's values never depend on the rows run with it), so a tree's values do not depend on the trees
    /// beside it.
    public func score(_ trees: [ScoringTree]) throws -> [[Double]] {
        let c = model.config
        for (k, t) in trees.enumerated() {
            guard !t.prefix.isEmpty, !t.branches.isEmpty, t.branches.allSatisfy({ !$0.isEmpty }) else {
                throw GenerationError("scoring question \(k) has an empty prefix or candidate")
            }
            let longest = t.prefix.count + t.branches.map(\.count).max()! - 1
            guard longest <= c.maxPositions else {
                throw GenerationError("scoring question \(k) has \(longest) tokens; the model's context is \(c.maxPositions)")
            }
            if let bad = (t.prefix + t.branches.joined()).first(where: { $0 < 0 || Int($0) >= c.vocabSize }) {
                throw GenerationError("scoring question \(k): token id \(bad) is outside the vocabulary of \(c.vocabSize)")
            }
        }
        if trees.isEmpty { return [] }
        if packed == nil { packed = PackedWeights(model) }
        let groupSlots = 16
        // Each group: up to 16 trees and `rowBudget` prefix rows, plus a slot per longer branch.
        var out: [[Double]] = []
        var start = 0
        while start < trees.count {
            var end = start, rows = 0
            while end < trees.count && end - start < groupSlots && (end == start || rows + trees[end].prefix.count <= rowBudget) {
                rows += trees[end].prefix.count; end += 1
            }
            let group = Array(trees[start..<end])
            let long = group.reduce(0) { $0 + $1.branches.filter { $0.count > 1 }.count }
            let capacity = group.map { $0.prefix.count + $0.branches.map(\.count).max()! }.max()!
            let slots = group.count + long
            if let kept = forwardPass, kept.cache.slots < slots || kept.cache.capacity < capacity { forwardPass = nil }
            let forward = forwardPass ?? BatchForward(model: model, cache: KVCache(config: c, slots: max(slots, batchSize), capacity: capacity), weights: packed)
            forwardPass = forward
            out += score(group, forward: forward)
            start = end
        }
        return out
    }

    func score(_ group: [ScoringTree], forward: BatchForward) -> [[Double]] {
        let V = model.config.vocabSize
        var tokens: [Int32] = [], slots: [Int32] = [], positions: [Int32] = [], logitRows: [Int] = []
        // The prompt start the group's prefixes share (a judge template's opening) runs once, into slot 0,
        // and is copied into the other slots (every tree keeps at least its last prefix token to run).
        var common = group[0].prefix.count - 1
        for t in group.dropFirst() {
            var n = 0
            while n < min(common, t.prefix.count - 1) && t.prefix[n] == group[0].prefix[n] { n += 1 }
            common = n
        }
        if group.count < 2 { common = 0 }
        if common > 0 {
            let shared = Array(group[0].prefix[..<common])
            _ = forward.run(tokens: shared, slots: [Int32](repeating: 0, count: common), positions: (0..<common).map(Int32.init), logitRows: [])
            for s in 1..<group.count { forward.cache.copyPrefix(from: 0, to: s, count: common) }
        }
        for (s, t) in group.enumerated() {
            for p in common..<t.prefix.count { tokens.append(t.prefix[p]); slots.append(Int32(s)); positions.append(Int32(p)) }
            logitRows.append(tokens.count - 1)
        }
        var values = group.map { [Double](repeating: 0, count: $0.branches.count) }
        let first = forward.run(tokens: tokens, slots: slots, positions: positions, logitRows: logitRows)
        for (s, t) in group.enumerated() {
            let lse = Self.logSumExp(first + s * V, V)
            for (b, branch) in t.branches.enumerated() { values[s][b] = lse.of(branch[0]) }
        }
        // Branches of more than one token: the rest of their tokens, each in a copy of its prefix's slot.
        tokens.removeAll(); slots.removeAll(); positions.removeAll(); logitRows.removeAll()
        var targets: [(tree: Int, branch: Int, token: Int32)] = []
        var slot = group.count
        for (s, t) in group.enumerated() {
            for (b, branch) in t.branches.enumerated() where branch.count > 1 {
                forward.cache.copyPrefix(from: s, to: slot, count: t.prefix.count)
                for j in 0..<(branch.count - 1) {
                    tokens.append(branch[j]); slots.append(Int32(slot)); positions.append(Int32(t.prefix.count + j))
                    logitRows.append(tokens.count - 1)
                    targets.append((s, b, branch[j + 1]))
                }
                slot += 1
            }
        }
        if !tokens.isEmpty {
            let rest = forward.run(tokens: tokens, slots: slots, positions: positions, logitRows: logitRows)
            for (i, t) in targets.enumerated() { values[t.tree][t.branch] += Self.logSumExp(rest + i * V, V).of(t.token) }
        }
        return values
    }

    /// A logits row's maximum and log of the shifted exponential sum (in double), computed once for all the
    /// tokens read from the row: `of(token)` is log softmax(row)[token].
    struct RowNormaliser {
        let row: UnsafePointer<Float>, top: Float, logSum: Double
        func of(_ token: Int32) -> Double { Double(row[Int(token)] - top) - logSum }
    }

    static func logSumExp(_ row: UnsafePointer<Float>, _ V: Int) -> RowNormaliser {
        var top = -Float.infinity
        for v in 0..<V { top = max(top, row[v]) }
        var sum = 0.0
        for v in 0..<V { sum += Foundation.exp(Double(row[v] - top)) }
        return RowNormaliser(row: row, top: top, logSum: Foundation.log(sum))
    }
}
