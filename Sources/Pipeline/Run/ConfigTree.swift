import Foundation
import Yams

/// A YAML document as a tree that remembers the line of every key, so that every configuration error can
/// name the key and its line.
public indirect enum ConfigNode: Equatable, Sendable {
    case scalar(String, line: Int)
    case map([(key: String, value: ConfigNode, line: Int)], line: Int)
    case list([ConfigNode], line: Int)

    public static func == (a: ConfigNode, b: ConfigNode) -> Bool { a.canonical == b.canonical }

    public var line: Int {
        switch self {
        case .scalar(_, let l), .map(_, let l), .list(_, let l): return l
        }
    }

    /// A line-free rendering (for hashing and comparing configurations).
    public var canonical: String {
        switch self {
        case .scalar(let s, _): return "\"" + s.replacingOccurrences(of: "\"", with: "\\\"") + "\""
        case .map(let entries, _): return "{" + entries.map { "\"\($0.key)\":\($0.value.canonical)" }.joined(separator: ",") + "}"
        case .list(let items, _): return "[" + items.map(\.canonical).joined(separator: ",") + "]"
        }
    }

    /// The tree as indented JSON, which is also YAML (the configuration as run, re-readable as a config).
    public func json(indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent), inner = String(repeating: "  ", count: indent + 1)
        let quote = JSONLines.quote
        switch self {
        case .scalar(let s, _): return quote(s)
        case .list(let items, _):
            if items.isEmpty { return "[]" }
            return "[\n" + items.map { inner + $0.json(indent: indent + 1) }.joined(separator: ",\n") + "\n" + pad + "]"
        case .map(let entries, _):
            if entries.isEmpty { return "{}" }
            return "{\n" + entries.map { inner + quote($0.key) + ": " + $0.value.json(indent: indent + 1) }.joined(separator: ",\n") + "\n" + pad + "}"
        }
    }

    public static func parse(yaml text: String, file: String) throws -> ConfigNode {
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw ConfigError(file: file, line: nil, key: nil, message: "not valid YAML (\(error))")
        }
        guard let node else { return .map([], line: 1) }
        return try convert(node, file: file)
    }

    static func convert(_ node: Node, file: String) throws -> ConfigNode {
        let line = (node.mark?.line ?? 0)
        switch node {
        case .scalar(let s): return .scalar(s.string, line: line)
        case .sequence(let seq): return .list(try seq.map { try convert($0, file: file) }, line: line)
        case .mapping(let m):
            var entries: [(key: String, value: ConfigNode, line: Int)] = []
            for (k, v) in m {
                guard let key = k.string else { throw ConfigError(file: file, line: k.mark?.line, key: nil, message: "keys must be strings") }
                if entries.contains(where: { $0.key == key }) {
                    throw ConfigError(file: file, line: k.mark?.line, key: key, message: "appears twice")
                }
                entries.append((key, try convert(v, file: file), k.mark?.line ?? line))
            }
            return .map(entries, line: line)
        case .alias: throw ConfigError(file: file, line: line, key: nil, message: "YAML aliases are not supported")
        }
    }

    /// The value at a dotted path (a number indexes a list), or nil.
    public func value(at path: [String]) -> ConfigNode? {
        guard let first = path.first else { return self }
        if case .list(let items, _) = self, let i = Int(first), items.indices.contains(i) { return items[i].value(at: Array(path.dropFirst())) }
        guard case .map(let entries, _) = self, let e = entries.first(where: { $0.key == first }) else { return nil }
        return e.value.value(at: Array(path.dropFirst()))
    }

    /// A copy with `value` set at a dotted path (maps along the way are created; a number indexes a list).
    public func setting(_ path: [String], to value: ConfigNode) -> ConfigNode {
        guard let first = path.first else { return value }
        if case .list(var items, let l) = self, let i = Int(first), items.indices.contains(i) {
            items[i] = items[i].setting(Array(path.dropFirst()), to: value)
            return .list(items, line: l)
        }
        var entries: [(key: String, value: ConfigNode, line: Int)] = []
        var line = self.line
        if case .map(let e, let l) = self { entries = e; line = l }
        if let i = entries.firstIndex(where: { $0.key == first }) {
            entries[i].value = entries[i].value.setting(Array(path.dropFirst()), to: value)
        } else {
            entries.append((first, ConfigNode.map([], line: 0).setting(Array(path.dropFirst()), to: value), 0))
        }
        return .map(entries, line: line)
    }
}

public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let line: Int?
    public let key: String?
    public let message: String
    public var description: String {
        var s = file
        if let line, line > 0 { s += ":\(line)" }
        if let key { s += ": key '\(key)'" }
        return s + ": " + message
    }
}

/// Typed reads from one map of the tree; every key read is marked, and `finish()` refuses the others.
public final class ConfigReader {
    let file: String
    let path: String
    let entries: [(key: String, value: ConfigNode, line: Int)]
    let line: Int
    var used = Set<String>()

    public init(_ node: ConfigNode?, file: String, path: String) throws {
        self.file = file
        self.path = path
        switch node {
        case nil: entries = []; line = 0
        case .map(let e, let l)?: entries = e; line = l
        case let other?: throw ConfigError(file: file, line: other.line, key: path, message: "expected a mapping of keys to values")
        }
    }

    func full(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
    public func error(_ key: String, _ message: String) -> ConfigError {
        ConfigError(file: file, line: entries.first { $0.key == key }?.line ?? line, key: full(key), message: message)
    }

    public func node(_ key: String) -> ConfigNode? {
        used.insert(key)
        return entries.first { $0.key == key }?.value
    }

    public func has(_ key: String) -> Bool { entries.contains { $0.key == key } }

    func scalar(_ key: String) throws -> String? {
        guard let n = node(key) else { return nil }
        guard case .scalar(let s, _) = n else { throw error(key, "expected a single value") }
        return s
    }

    public func string(_ key: String, default d: String? = nil, oneOf choices: [String]? = nil) throws -> String? {
        guard let s = try scalar(key) else { return d }
        if let choices, !choices.contains(s) { throw error(key, "'\(s)' is not one of \(choices.joined(separator: ", "))") }
        return s
    }

    public func int(_ key: String, default d: Int, min: Int? = nil, max: Int? = nil) throws -> Int {
        guard let s = try scalar(key) else { return d }
        guard let v = Int(s) else { throw error(key, "expected an integer, got '\(s)'") }
        if let min, v < min { throw error(key, "must be at least \(min), got \(v)") }
        if let max, v > max { throw error(key, "must be at most \(max), got \(v)") }
        return v
    }

    public func double(_ key: String, default d: Double, min: Double? = nil, max: Double? = nil) throws -> Double {
        guard let s = try scalar(key) else { return d }
        guard let v = Double(s), v.isFinite else { throw error(key, "expected a number, got '\(s)'") }
        if let min, v < min { throw error(key, "must be at least \(min), got \(v)") }
        if let max, v > max { throw error(key, "must be at most \(max), got \(v)") }
        return v
    }

    public func bool(_ key: String, default d: Bool) throws -> Bool {
        guard let s = try scalar(key) else { return d }
        switch s.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error(key, "expected true or false, got '\(s)'")
        }
    }

    public func strings(_ key: String, default d: [String]) throws -> [String] {
        guard let n = node(key) else { return d }
        if case .scalar(let s, _) = n { return [s] }  // one value (a command-line override) is a list of one
        guard case .list(let items, _) = n else { throw error(key, "expected a list") }
        return try items.map {
            guard case .scalar(let s, _) = $0 else { throw error(key, "expected a list of values") }
            return s
        }
    }

    public func child(_ key: String) throws -> ConfigReader { try ConfigReader(node(key), file: file, path: full(key)) }

    /// Refuses keys that were never read.
    public func finish() throws {
        for e in entries where !used.contains(e.key) {
            throw ConfigError(file: file, line: e.line, key: full(e.key), message: "unknown key")
        }
    }
}
