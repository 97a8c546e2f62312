import Foundation
import Testing
import FuzzTargets
import TestSupport

/// The fuzz targets (make fuzz) replayed in make test: the seed corpus is accepted (so mutations start from
/// valid files, and the parsers read what the reference libraries write), and every input a fuzzing run ever
/// found is refused with its expected error instead of trapping.
@Suite(.serialized) struct FuzzRegressionTests {
    static let fuzzDir = Paths.repo.appendingPathComponent("Tests/Fuzz")

    static func files(_ folder: String, _ target: String) throws -> [URL] {
        let dir = fuzzDir.appendingPathComponent(folder).appendingPathComponent(target)
        guard FileManager.default.fileExists(atPath: dir.path) else { return [] }
        return try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }.sorted { $0.path < $1.path }
    }

    @Test func everySeedIsAccepted() throws {
        for target in FuzzTargets.names {
            let seeds = try Self.files("corpus", target)
            #expect(!seeds.isEmpty, "fuzz target \(target) has no seeds in Tests/Fuzz/corpus/\(target)")
            for seed in seeds {
                let outcome = try FuzzTargets.run(target, try Data(contentsOf: seed))
                if seed.lastPathComponent.hasPrefix("blocks-") {
                    // Quantized blocks alone: every tensor is read, then the file is refused as a model.
                    guard case .refused(let message) = outcome else { Issue.record("\(seed.lastPathComponent) was accepted"); continue }
                    #expect(message.contains("metadata 'llama.embedding_length': missing"), "\(seed.lastPathComponent): \(message)")
                } else {
                    #expect(outcome == .accepted, "\(target)/\(seed.lastPathComponent): \(outcome)")
                }
            }
        }
    }

    /// What each finding must now get: a substring of its error.
    static let expected: [String: String] = [
        "config-json/rope-original-max-positions-1e300.json": "original_max_position_embeddings': expected a positive integer",
        "gguf/empty.gguf": "the file is empty (0 bytes)",
    ]

    @Test func everyFindingIsRefusedWithItsError() throws {
        var seen = Set<String>()
        for target in FuzzTargets.names {
            for file in try Self.files("regressions", target) {
                let key = "\(target)/\(file.lastPathComponent)"
                seen.insert(key)
                let outcome = try FuzzTargets.run(target, try Data(contentsOf: file))
                guard case .refused(let message) = outcome else {
                    Issue.record("\(key) was accepted"); continue
                }
                let want = try #require(Self.expected[key], "\(key): add its expected error to FuzzRegressionTests.expected (it got: \(message))")
                #expect(message.contains(want), "\(key): \(message)")
            }
        }
        #expect(seen == Set(Self.expected.keys), "regression files and expectations differ")
    }
}
