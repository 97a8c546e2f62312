import Foundation

/// Errors from reading, checking and writing models. Each message names the file and what was expected.
public struct ModelError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }

    static func config(_ file: String, key: String, _ message: String) -> ModelError {
        ModelError("\(file): key '\(key)': \(message)")
    }
    static func format(_ file: String, _ message: String) -> ModelError { ModelError("\(file): \(message)") }

    /// The file at `url`, memory-mapped; an error names it. An empty file is refused as such (no format read
    /// here can be empty, and "empty" says more than the parser's "truncated").
    static func mapped(_ url: URL) throws -> Data {
        if let size = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? Int, size == 0 {
            throw ModelError.format(url.path, "the file is empty (0 bytes)")
        }
        do { return try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw ModelError.format(url.path, "cannot read (\(error.localizedDescription))")
        }
    }
}
