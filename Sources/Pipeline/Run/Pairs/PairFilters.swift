import Alignment
import Foundation

/// What a filter sees of one built pair.
public struct PairFacts {
    public var chosenScore: Double, rejectedScore: Double, rejectedLength: Int
}

/// A filter of a round's built pairs (`pairs.filter`), chosen when the config is read. A new filter is a
/// type here with its config keys, and its name in `PairFilters.kinds`.
public protocol PairFilter {
    static var name: String { get }
    /// Reads the filter's settings from the pairs phase, refusing a pair kind it cannot work with.
    init(_ r: ConfigReader, selection: PairSelection) throws
    /// The indices of the pairs kept, in order.
    func keep(_ pairs: [PairFacts]) -> [Int]
}

public enum PairFilters {
    public static let kinds: [PairFilter.Type] = [RIPPairFilter.self]

    static func read(_ r: ConfigReader, selection: PairSelection) throws -> PairFilter? {
        let name = try r.string("filter", default: "none", oneOf: ["none"] + kinds.map { $0.name })!
        return try kinds.first { $0.name == name }?.init(r, selection: selection)
    }
}

/// RIP: keep a pair when its rejected score is at least the `rip_reward`-th percentile of the round's
/// pairs, its rejected length (tokens) at least the `rip_length`-th and its score gap at most the `rip_gap`-th.
struct RIPPairFilter: PairFilter {
    static let name = "rip"
    let filter: RIPFilter
    init(_ r: ConfigReader, selection: PairSelection) throws {
        filter = RIPFilter(rejectedRewardPercentile: try r.double("rip_reward", default: 50, min: 0, max: 100),
                           rejectedLengthPercentile: try r.double("rip_length", default: 50, min: 0, max: 100),
                           gapPercentile: try r.double("rip_gap", default: 50, min: 0, max: 100))
        guard selection.usesScores else {
            throw r.error("filter", "rip filters pairs by judge scores: use it with a kind that pairs by scores (best_vs_worst, length_controlled or tpo)")
        }
    }
    func keep(_ pairs: [PairFacts]) -> [Int] {
        filter.keep(pairs.map { RIPFilter.Item(rejectedReward: $0.rejectedScore, rejectedLength: Double($0.rejectedLength), chosenReward: $0.chosenScore) })
    }
}
