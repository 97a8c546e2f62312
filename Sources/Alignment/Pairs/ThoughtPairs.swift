import Foundation

/// Thought Preference Optimization's pair selection over one round's prompts.
///
/// Among a prompt's scored outputs, each gets s = z(score) - rho * z(length), with z standardised over that
/// prompt's scored outputs (a constant column contributes 0); chosen = highest s, rejected = lowest s (the
/// lower index on equal s), with no pair when the judge gave all of them the same score. Outputs that failed to parse (no response part) may serve as the rejected output
/// of their prompt, against its highest-s output, in at most `maxUnparsedFraction` of the round's pairs:
/// prompts without an ordinary pair are served first, then prompts whose ordinary pair is replaced, both in
/// prompt order; the first unparseable output (lowest index) is the one used.
public enum ThoughtPairs {
    public static func select(_ prompts: [[Candidate]], rho: Double, maxUnparsedFraction: Double) -> [Preference?] {
        var out: [Preference?] = []
        var withPair: [Int] = [], onlyUnparsed: [Int] = []
        var best: [Int?] = []
        for cs in prompts {
            let scored = cs.indices.filter { cs[$0].parseable && cs[$0].score != nil }
            let zs = zScores(scored.map { cs[$0].score! }), zl = zScores(scored.map { Double(cs[$0].length) })
            let s = scored.indices.map { zs[$0] - rho * zl[$0] }
            let order = scored.indices.sorted { s[$0] > s[$1] || (s[$0] == s[$1] && scored[$0] < scored[$1]) }
            let top = order.first.map { scored[$0] }, bottom = order.last.map { scored[$0] }
            best.append(top)
            var pair: Preference?
            if let c = top, let r = bottom, Set(scored.map { cs[$0].score! }).count > 1 { pair = Preference(chosen: c, rejected: r) }
            out.append(pair)
            let hasUnparsed = cs.contains { !$0.parseable }
            if hasUnparsed && top != nil {
                if pair == nil { onlyUnparsed.append(out.count - 1) } else { withPair.append(out.count - 1) }
            }
        }
        // u pairs with an unparseable rejected output among n in all: u <= fraction * n.
        let ordinary = out.compactMap { $0 }.count
        var u = 0
        for candidate in stride(from: onlyUnparsed.count + withPair.count, through: 0, by: -1) {
            let total = ordinary + min(candidate, onlyUnparsed.count)
            if Double(candidate) <= maxUnparsedFraction * Double(total) + 1e-9 { u = candidate; break }
        }
        for p in (onlyUnparsed + withPair).prefix(u) {
            let cs = prompts[p]
            out[p] = Preference(chosen: best[p]!, rejected: cs.firstIndex { !$0.parseable }!)
        }
        return out
    }

    /// (x - mean) / standard deviation (population); zeros when the values do not vary.
    static func zScores(_ x: [Double]) -> [Double] {
        guard !x.isEmpty else { return [] }
        let mean = x.reduce(0, +) / Double(x.count)
        let sd = (x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(x.count)).squareRoot()
        return sd > 0 ? x.map { ($0 - mean) / sd } : x.map { _ in 0 }
    }
}
