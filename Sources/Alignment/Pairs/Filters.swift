import Foundation

/// Percentiles with linear interpolation between closest ranks (numpy's default).
public func percentile(_ values: [Double], _ q: Double) -> Double {
    precondition(!values.isEmpty)
    let s = values.sorted()
    let pos = (q / 100) * Double(s.count - 1)
    let lo = Int(pos.rounded(.down)), hi = Int(pos.rounded(.up))
    return s[lo] + (s[hi] - s[lo]) * (pos - Double(lo))
}

/// RIP (Rejecting Instruction Preferences): keep a prompt when its rejected response's reward is at least
/// the p1-th percentile of the batch, its rejected length at least the p2-th, and its reward gap at most
/// the p3-th (all three at the 50th percentile was best in the paper).
public struct RIPFilter: Sendable, Equatable, Codable {
    public var rejectedRewardPercentile: Double
    public var rejectedLengthPercentile: Double
    public var gapPercentile: Double
    public init(rejectedRewardPercentile: Double = 50, rejectedLengthPercentile: Double = 50, gapPercentile: Double = 50) {
        self.rejectedRewardPercentile = rejectedRewardPercentile; self.rejectedLengthPercentile = rejectedLengthPercentile
        self.gapPercentile = gapPercentile
    }

    public struct Item: Sendable {
        public var rejectedReward: Double
        public var rejectedLength: Double
        public var chosenReward: Double
        public init(rejectedReward: Double, rejectedLength: Double, chosenReward: Double) {
            self.rejectedReward = rejectedReward; self.rejectedLength = rejectedLength; self.chosenReward = chosenReward
        }
        public var gap: Double { chosenReward - rejectedReward }
    }

    /// Indices of the items kept.
    public func keep(_ items: [Item]) -> [Int] {
        guard !items.isEmpty else { return [] }
        let t1 = percentile(items.map(\.rejectedReward), rejectedRewardPercentile)
        let t2 = percentile(items.map(\.rejectedLength), rejectedLengthPercentile)
        let t3 = percentile(items.map(\.gap), gapPercentile)
        return items.indices.filter { items[$0].rejectedReward >= t1 && items[$0].rejectedLength >= t2 && items[$0].gap <= t3 }
    }
}

/// LIFT (length-instruction fine-tuning): prompts wrapped with a word limit, and two length-instructed
/// pairs from each pair whose responses differ by at least `minDifference` words.
public struct LengthInstructions: Sendable, Equatable, Codable {
    public var template: String
    public var minDifference: Int
    /// Words added above the longer response for the limit that keeps the labels.
    public var slack: Int
    public init(template: String = "Answer the following instruction using {N} words or less.\n\n{instruction}",
                minDifference: Int = 10, slack: Int = 5) {
        self.template = template; self.minDifference = minDifference; self.slack = slack
    }

    public static func words(_ text: String) -> Int { text.split(whereSeparator: \.isWhitespace).count }

    public func wrap(_ instruction: String, limit: Int) -> String {
        Placeholders.fill(template, ["N": String(limit), "instruction": instruction])
    }

    public struct Augmented: Sendable, Equatable {
        public var prompt: String
        public var limit: Int
        public var chosen: String
        public var rejected: String
    }

    /// (1) a limit just above the longer response: the labels stay; (2) a limit between the two lengths: the
    /// response over the limit becomes the rejected one (so the labels flip when the chosen one was longer).
    public func augment(instruction: String, chosen: String, rejected: String) -> [Augmented] {
        let lc = LengthInstructions.words(chosen), lr = LengthInstructions.words(rejected)
        guard abs(lc - lr) >= minDifference else { return [] }
        let loose = max(lc, lr) + slack
        let tight = (lc + lr) / 2
        let shortFirst = lc < lr ? (chosen, rejected) : (rejected, chosen)
        return [Augmented(prompt: wrap(instruction, limit: loose), limit: loose, chosen: chosen, rejected: rejected),
                Augmented(prompt: wrap(instruction, limit: tight), limit: tight, chosen: shortFirst.0, rejected: shortFirst.1)]
    }

    /// Whether a response keeps to a limit.
    public static func complies(_ response: String, limit: Int) -> Bool { words(response) <= limit }
}
