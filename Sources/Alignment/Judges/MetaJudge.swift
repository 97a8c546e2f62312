import Foundation

/// Meta-Rewarding's meta-judge: the model compares two of its own judgments of one response, in both
/// orders, and ends with "Winner: Judgement A" or "Winner: Judgement B". The battles are weighted against
/// position bias and turned into Elo ratings by maximum likelihood; the highest- and lowest-rated judgments
/// make a judge pair.
public enum MetaJudge {
    /// A meta-judge prompt in the spirit of the published one (placeholders {instruction}, {response},
    /// {judgement_a}, {judgement_b}).
    public static let defaultTemplate = """
    Review the user's question and the corresponding response, along with two judgments. Determine which \
    judgment is more accurate according to the rubric provided below. The rubric used for the initial \
    judgments is as follows:
    - Add 1 point if the response is relevant and provides some information related to the user's inquiry.
    - Add another point if the response addresses a substantial portion of the user's question.
    - Award a third point if the response answers the basic elements of the user's question in a useful way.
    - Grant a fourth point if the response is clearly written, addresses the question directly and \
    comprehensively, and is well-organized and helpful.
    - Bestow a fifth point for a response that is impeccably tailored to the user's question, without \
    extraneous information, reflecting expert knowledge.

    User: {instruction}
    Response: {response}
    Judgment A: {judgement_a}
    Judgment B: {judgement_b}

    After analyzing both judgments, provide a brief explanation of which judgment is more accurate according \
    to the rubric, then conclude with a clear statement of which judgment is better using the format: \
    "Winner: [Judgement A | Judgement B]"
    """

    public static func fill(_ template: String, instruction: String, response: String, a: String, b: String) -> String {
        Placeholders.fill(template, ["instruction": instruction, "response": response, "judgement_a": a, "judgement_b": b])
    }

    /// "A" or "B" from the last "Winner: Judgement X" (case-insensitive, "judgment" spelt either way,
    /// brackets and spaces tolerated); nil when there is none.
    public static func winner(_ text: String) -> String? {
        let lower = text.lowercased()
        var found: String?
        var search = lower.startIndex..<lower.endIndex
        while let r = lower.range(of: "winner:", range: search) {
            var rest = lower[r.upperBound...].drop { $0 == " " || $0 == "[" || $0 == "*" }
            for word in ["judgement", "judgment"] where rest.hasPrefix(word) { rest = rest.dropFirst(word.count) }
            rest = rest.drop { $0 == " " }
            if let c = rest.first, c == "a" || c == "b", rest.dropFirst().first.map({ !$0.isLetter }) ?? true { found = c == "a" ? "A" : "B" }
            search = r.upperBound..<lower.endIndex
        }
        return found
    }

    /// One comparison of judgments m < n: the winner with m shown as A ("forward"), and with n shown as A
    /// ("backward"), nil where the meta-judgment did not parse.
    public struct Battle: Codable, Sendable, Equatable {
        public var m: Int, n: Int
        public var forward: String?, backward: String?
        public init(m: Int, n: Int, forward: String?, backward: String?) { self.m = m; self.n = n; self.forward = forward; self.backward = backward }
    }

    /// Position-bias weights from all parsed outcomes: with win1 wins for the judgment shown first and win2
    /// for the one shown second, a first-position win counts w1 = win2 / (win1 + win2) and a second-position
    /// win w2 = win1 / (win1 + win2). Both 0.5 when there is no outcome.
    public static func positionWeights(_ battles: [Battle]) -> (first: Double, second: Double) {
        let outcomes = battles.flatMap { [$0.forward, $0.backward] }.compactMap { $0 }
        let win1 = Double(outcomes.filter { $0 == "A" }.count), win2 = Double(outcomes.filter { $0 == "B" }.count)
        guard win1 + win2 > 0 else { return (0.5, 0.5) }
        return (win2 / (win1 + win2), win1 / (win1 + win2))
    }

    /// wins[m][n]: the weighted count of battles judgment m won against n.
    public static func winMatrix(_ battles: [Battle], players: Int, weights: (first: Double, second: Double)) -> [[Double]] {
        var w = [[Double]](repeating: [Double](repeating: 0, count: players), count: players)
        for b in battles {
            switch b.forward { case "A": w[b.m][b.n] += weights.first; case "B": w[b.n][b.m] += weights.second; default: break }
            switch b.backward { case "A": w[b.n][b.m] += weights.first; case "B": w[b.m][b.n] += weights.second; default: break }
        }
        return w
    }

    /// Log-strengths e maximising sum_mn wins[m][n] log sigma(e_m - e_n) - (l2 / 2) sum_m e_m^2, centred on
    /// mean 0 (the likelihood alone fixes only differences; with l2 = 0 a judgment that never wins or never
    /// loses has no finite maximum, which the small l2 the scheduler uses prevents). Gradient ascent with a
    /// step below the inverse curvature bound, to a gradient below 1e-10.
    public static func strengths(_ wins: [[Double]], l2: Double) -> [Double] {
        let k = wins.count
        guard k > 0 else { return [] }
        var e = [Double](repeating: 0, count: k)
        let degree = (0..<k).map { m in (0..<k).reduce(0) { $0 + wins[m][$1] + wins[$1][m] } }
        let step = 1 / (0.5 * (degree.max() ?? 0) + l2 + 1e-12)
        func sigma(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }
        for _ in 0..<200_000 {
            var g = [Double](repeating: 0, count: k)
            for m in 0..<k {
                for n in 0..<k where n != m {
                    g[m] += wins[m][n] * sigma(e[n] - e[m]) - wins[n][m] * sigma(e[m] - e[n])
                }
                g[m] -= l2 * e[m]
            }
            if g.map(abs).max()! < 1e-10 { break }
            for m in 0..<k { e[m] += step * g[m] }
        }
        let mean = e.reduce(0, +) / Double(k)
        return e.map { $0 - mean }
    }

    /// Elo points for log-strengths: 1000 + 400 log10(e^s), so that a 400-point gap is 10:1 odds.
    public static func elo(_ strengths: [Double]) -> [Double] { strengths.map { 1000 + 400 * $0 / Foundation.log(10) } }
}
