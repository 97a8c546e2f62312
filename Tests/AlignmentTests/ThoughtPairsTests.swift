import Testing
import Foundation
import Alignment

/// Thought Preference Optimization's pair choice, against values worked out by hand.
struct ThoughtPairsTests {
    static func c(_ score: Double?, _ length: Int, parseable: Bool = true) -> Candidate {
        Candidate(sampleIndex: 0, text: "", score: score, length: length, parseable: parseable)
    }

    /// scores (5, 3, 1) -> z = (1.2247, 0, -1.2247); lengths (40, 10, 20) -> z = (1.3363, -1.0690, -0.2673).
    /// rho 0.5: s = (0.557, 0.535, -1.091), so 0 against 2. rho 2: s = (-1.448, 2.138, -0.690), so the
    /// shorter, lower-scored 1 against the long top-scored 0.
    @Test func lengthControlledScoresPickChosenAndRejected() {
        let cs = [Self.c(5, 40), Self.c(3, 10), Self.c(1, 20)]
        #expect(ThoughtPairs.select([cs], rho: 0.5, maxUnparsedFraction: 0) == [Preference(chosen: 0, rejected: 2)])
        #expect(ThoughtPairs.select([cs], rho: 2, maxUnparsedFraction: 0) == [Preference(chosen: 1, rejected: 0)])
        #expect(ThoughtPairs.select([cs], rho: 0, maxUnparsedFraction: 0) == [Preference(chosen: 0, rejected: 2)])
        // Unscored outputs take no part; equal scores give no pair, whatever the lengths.
        let tied = [Self.c(4, 5), Self.c(4, 50), Self.c(nil, 9)]
        #expect(ThoughtPairs.select([tied], rho: 1, maxUnparsedFraction: 0) == [nil])
    }

    /// Unparseable outputs serve as rejected in at most the given fraction of the pairs: prompts that have
    /// no other pair first, then prompts whose pair it replaces.
    @Test func unparseableOutputsAreRejectedWithinTheCap() {
        let ordinary = [Self.c(5, 10), Self.c(2, 10)]
        let withBoth = [Self.c(1, 10), Self.c(4, 12), Self.c(nil, 3, parseable: false), Self.c(nil, 7, parseable: false)]
        let onlyOne = [Self.c(3, 10), Self.c(nil, 30, parseable: false)]
        let prompts = [withBoth, onlyOne] + Array(repeating: ordinary, count: 8)
        // 9 ordinary pairs; one more from `onlyOne` makes 10, of which 1 (10%) may end in an unparseable output.
        let tenPercent = ThoughtPairs.select(prompts, rho: 0, maxUnparsedFraction: 0.1)
        #expect(tenPercent[0] == Preference(chosen: 1, rejected: 0))
        #expect(tenPercent[1] == Preference(chosen: 0, rejected: 1))
        #expect(tenPercent[2...].allSatisfy { $0 == Preference(chosen: 0, rejected: 0 + 1) })
        // At 20%, `withBoth`'s pair becomes its best output against its first unparseable one.
        let twentyPercent = ThoughtPairs.select(prompts, rho: 0, maxUnparsedFraction: 0.2)
        #expect(twentyPercent[0] == Preference(chosen: 1, rejected: 2))
        #expect(twentyPercent[1] == Preference(chosen: 0, rejected: 1))
        // At 0 none; at 5%, 1 of 10 would exceed it and 0 of 9 does not.
        for f in [0.0, 0.05] {
            let none = ThoughtPairs.select(prompts, rho: 0, maxUnparsedFraction: f)
            #expect(none[0] == Preference(chosen: 1, rejected: 0) && none[1] == nil)
        }
    }
}
