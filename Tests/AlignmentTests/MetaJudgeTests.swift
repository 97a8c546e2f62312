import Testing
import Foundation
import Alignment

/// The meta-judge's parsing, position-bias weights and Elo fit.
struct MetaJudgeTests {
    @Test func winnerParsesTheLastStatement() {
        #expect(MetaJudge.winner("Judgment A is vague.\nWinner: Judgement B") == "B")
        #expect(MetaJudge.winner("winner: [Judgment A]") == "A")
        #expect(MetaJudge.winner("Winner: Judgement A ... on reflection, Winner: Judgement B.") == "B")
        #expect(MetaJudge.winner("**Winner:** Judgement A") == "A")  // markdown bold around the label
        #expect(MetaJudge.winner("Winner: Judgement Alpha") == nil)
        #expect(MetaJudge.winner("Both are fine.") == nil)
    }

    /// Outcomes: A wins 6 times, B twice, so w1 = 2/8 and w2 = 6/8; each battle's two orders add to the matrix.
    @Test func positionWeightsAndWinMatrix() {
        let battles = [MetaJudge.Battle(m: 0, n: 1, forward: "A", backward: "A"),   // 0 over 1 as A, then 1 over 0 as A
                       MetaJudge.Battle(m: 0, n: 2, forward: "A", backward: "B"),   // 0 over 2 twice
                       MetaJudge.Battle(m: 1, n: 2, forward: "A", backward: "A"),
                       MetaJudge.Battle(m: 0, n: 2, forward: "B", backward: "A"),   // 2 over 0 twice
                       MetaJudge.Battle(m: 1, n: 2, forward: nil, backward: nil)]
        let w = MetaJudge.positionWeights(battles)
        #expect(w.first == 0.25 && w.second == 0.75)
        let m = MetaJudge.winMatrix(battles, players: 3, weights: w)
        #expect(m[0] == [0, 0.25, 0.25 + 0.75])
        #expect(m[1] == [0.25, 0, 0.25])
        #expect(m[2] == [0.75 + 0.25, 0.25, 0])
        #expect(MetaJudge.positionWeights([]) == (0.5, 0.5))
    }

    /// Two players: the maximum-likelihood gap is log(w01 / w10) exactly, so 3 wins to 1 is 400 log10(3)
    /// Elo points. Four players: the same fit as Zermelo's iteration (pi_m = W_m / sum_n N_mn / (pi_m + pi_n)),
    /// written here independently; with an l2 term, the gradient of the penalised likelihood vanishes.
    @Test func eloIsTheMaximumLikelihoodFit() {
        let two = MetaJudge.strengths([[0, 3], [1, 0]], l2: 0)
        #expect(abs((two[0] - two[1]) - log(3.0)) < 1e-8)
        let elo = MetaJudge.elo(two)
        #expect(abs((elo[0] - elo[1]) - 400 * log10(3.0)) < 1e-6 && abs((elo[0] + elo[1]) / 2 - 1000) < 1e-9)

        let w: [[Double]] = [[0, 2, 1, 3], [1, 0, 2, 1.5], [2, 0.5, 0, 1], [0.5, 1, 2, 0]]
        var pi = [Double](repeating: 1, count: 4)
        for _ in 0..<20_000 {
            pi = (0..<4).map { m in
                let wins = w[m].reduce(0, +)
                let denominator = (0..<4).filter { $0 != m }.reduce(0.0) { $0 + (w[m][$1] + w[$1][m]) / (pi[m] + pi[$1]) }
                return wins / denominator
            }
            let g = exp(pi.map { log($0) }.reduce(0, +) / 4)
            pi = pi.map { $0 / g }
        }
        let fitted = MetaJudge.strengths(w, l2: 0)
        for m in 0..<4 { #expect(abs(fitted[m] - log(pi[m])) < 1e-6, "player \(m): \(fitted[m]) vs \(log(pi[m]))") }

        let unbeaten: [[Double]] = [[0, 2, 1], [0, 0, 1], [0, 1, 0]]
        let e = MetaJudge.strengths(unbeaten, l2: 0.01)
        for m in 0..<3 {
            var g = -0.01 * e[m]
            for n in 0..<3 where n != m {
                g += unbeaten[m][n] / (1 + exp(e[m] - e[n])) - unbeaten[n][m] / (1 + exp(e[n] - e[m]))
            }
            #expect(abs(g) < 1e-8)
        }
        #expect(e[0] > e[1] && e[0] > e[2] && e[0].isFinite)
    }
}
