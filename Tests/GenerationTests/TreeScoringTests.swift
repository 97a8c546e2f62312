import Testing
import Foundation
import Kernels
import Model
import Generation
import TestSupport

/// Candidate scoring with the decoding engine (`Generator.score`) against the training forward's
/// per-token log-probs of each full sequence (`LlamaModel.tokenLogProbs`, a separate code path).
struct TreeScoringTests {
    static let model = GeneratorTests.model

    /// Trees that share a long start (as judge prompts do), with one-token and several-token branches,
    /// one branch a prefix of another, and a prefix of a single token.
    static let trees: [ScoringTree] = {
        let opening: [Int32] = Array(40..<70)
        return [
            ScoringTree(prefix: opening + [5, 6, 7], branches: [[10], [11], [12]]),
            ScoringTree(prefix: opening + [8, 9], branches: [[20, 21, 22], [20], [23, 24]]),
            ScoringTree(prefix: opening + [5, 6], branches: [[30, 31], [32]]),
            ScoringTree(prefix: [4], branches: [[50], [51, 52]]),
            ScoringTree(prefix: Array(2..<90), branches: [[7], [8, 9, 10, 11]]),
        ]
    }()

    @Test func branchLogprobsMatchTheTrainingForwardOfEachFullSequence() throws {
        let got = try Generator(model: TreeScoringTests.model, tokenizer: nil, batchSize: 4).score(TreeScoringTests.trees)
        for (t, values) in zip(TreeScoringTests.trees, got) {
            let per = try TreeScoringTests.model.tokenLogProbs(t.branches.map { t.prefix + $0 })
            for (b, (branch, lp)) in zip(t.branches, per).enumerated() {
                let reference = lp[(t.prefix.count - 1)...].reduce(0.0) { $0 + Double($1) }
                #expect(lp.count == t.prefix.count + branch.count - 1)
                #expect(abs(values[b] - reference) < 1e-5, "branch \(b): \(values[b]) vs \(reference)")
            }
        }
    }

    @Test func valuesDoNotDependOnTheTreesBesideThemOrTheThreads() throws {
        let all = try Generator(model: TreeScoringTests.model, tokenizer: nil, batchSize: 16).score(TreeScoringTests.trees)
        for threads in [1, 2, 3] {
            Parallel.threads = threads
            let one = try TreeScoringTests.trees.map { try Generator(model: TreeScoringTests.model, tokenizer: nil, batchSize: 1).score([$0])[0] }
            #expect(one == all, "\(threads) threads, one tree at a time")
            let reversed = try Generator(model: TreeScoringTests.model, tokenizer: nil, batchSize: 2).score(TreeScoringTests.trees.reversed())
            #expect(Array(reversed.reversed()) == all, "\(threads) threads, reversed")
        }
        Parallel.threads = Parallel.defaultThreadCount()
    }

    @Test func treesFromSequencesSplitAtTheSharedPrefixAndBadInputIsRefused() throws {
        let t = try ScoringTree(sequences: [[1, 2, 3, 4], [1, 2, 3, 5, 6], [1, 2, 7]])
        #expect(t.prefix == [1, 2] && t.branches == [[3, 4], [3, 5, 6], [7]])
        // One sequence a prefix of another: each keeps a token of its own.
        let p = try ScoringTree(sequences: [[1, 2], [1, 2, 3]])
        #expect(p.prefix == [1] && p.branches == [[2], [2, 3]])
        #expect(throws: (any Error).self) { try ScoringTree(sequences: [[1, 2], [3, 4]]) }
        #expect(throws: (any Error).self) { try ScoringTree(sequences: []) }
        let g = Generator(model: TreeScoringTests.model, tokenizer: nil, batchSize: 2)
        #expect(throws: (any Error).self) { try g.score([ScoringTree(prefix: [1], branches: [[96]])]) }
        #expect(throws: (any Error).self) { try g.score([ScoringTree(prefix: Array(repeating: 1, count: 200), branches: [[2]])]) }
        #expect(throws: (any Error).self) { try g.score([ScoringTree(prefix: [1], branches: [[]])]) }
    }
}
