import Testing
import Foundation
import Alignment
import Kernels
import Pipeline
import TestSupport

/// The pair kind of docs/architecture.md's walk-through, written against the public protocol as a new kind
/// would be: it compiles as shown and selects what the walk-through says.
struct ShortestCorrect: PairSelection {
    static let name = "shortest_correct"
    init(_ r: ConfigReader) throws {}
    func select(_ prompts: [[Candidate]], stream: RandomStream) -> [[Preference]] {
        prompts.map { cs in
            let right = cs.indices.filter { cs[$0].correct == true }, wrong = cs.indices.filter { cs[$0].correct == false }
            guard let c = right.min(by: { cs[$0].length < cs[$1].length }), let r = wrong.first else { return [] }
            return [Preference(chosen: c, rejected: r)]
        }
    }
}

@Suite struct PairKindTests {
    @Test func theWalkThroughsPairKindSelectsTheShortestCorrectAnswer() throws {
        let kind = try ShortestCorrect(try ConfigReader(nil, file: "t", path: "pairs"))
        let prompt = [Candidate(sampleIndex: 0, text: "a", correct: true, length: 9), Candidate(sampleIndex: 1, text: "b", correct: false, length: 2),
                      Candidate(sampleIndex: 2, text: "c", correct: true, length: 3)]
        let none = [Candidate(sampleIndex: 0, text: "a", correct: true, length: 1)]
        #expect(kind.select([prompt, none], stream: RandomStream(key: 1)) == [[Preference(chosen: 2, rejected: 1)], []])
        #expect(!kind.usesScores)
    }

    /// Every registered kind and filter is chosen by its name in a config, and names are unique.
    @Test func everyRegisteredKindIsReadByItsName() throws {
        let dir = Paths.temporaryDirectory("pair-kinds")
        let names = PairSelections.kinds.map { $0.name }
        #expect(Set(names).count == names.count && names.contains("correct_vs_incorrect") && names.contains("tpo"))
        for kind in PairSelections.kinds {
            let filter = ["best_vs_worst", "length_controlled", "tpo"].contains(kind.name) ? "\n          filter: rip" : ""
            let text = """
            model:
              shape: micro
            schedule:
              rounds:
                count: 1
                phases:
                  - pairs:
                      kind: \(kind.name)\(filter)
            """
            let path = dir.appendingPathComponent("\(kind.name).yaml").path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let c = try RunConfig.load(path)
            guard case .pairs(let p) = c.rounds[0][0] else { Issue.record("\(kind.name): no pairs phase"); continue }
            #expect(ObjectIdentifier(type(of: p.selection)) == ObjectIdentifier(kind), "\(kind.name)")
            #expect((p.filter != nil) == !filter.isEmpty, "\(kind.name)")
        }
    }
}
