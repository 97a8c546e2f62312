import Foundation
import Generation
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
        case .scalar(let s, _): return ConfigNode.isJSONLiteral(s) ? s : quote(s)
        case .list(let items, _):
            if items.isEmpty { return "[]" }
            return "[\n" + items.map { inner + $0.json(indent: indent + 1) }.joined(separator: ",\n") + "\n" + pad + "]"
        case .map(let entries, _):
            if entries.isEmpty { return "{}" }
            return "{\n" + entries.map { inner + quote($0.key) + ": " + $0.value.json(indent: indent + 1) }.joined(separator: ",\n") + "\n" + pad + "}"
        }
    }

    /// Whether a scalar reads the same as a bare JSON number, true, false or null (so that `config.yaml`
    /// shows `"seed": 0`, not `"seed": "0"`).
    static func isJSONLiteral(_ s: String) -> Bool {
        if ["true", "false", "null"].contains(s) { return true }
        return s.range(of: #"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"#, options: .regularExpression) != nil
    }

    /// The dotted paths (in override form) whose values differ between two trees, e.g. `run.seed`.
    public static func differences(_ a: ConfigNode?, _ b: ConfigNode?, path: String = "") -> [String] {
        switch (a, b) {
        case (.map(let x, _)?, .map(let y, _)?):
            let keys = x.map(\.key) + y.map(\.key).filter { k in !x.contains { $0.key == k } }
            return keys.flatMap { k in
                differences(x.first { $0.key == k }?.value, y.first { $0.key == k }?.value, path: path.isEmpty ? k : "\(path).\(k)")
            }
        case (.list(let x, _)?, .list(let y, _)?):
            return (0..<max(x.count, y.count)).flatMap { i in
                differences(i < x.count ? x[i] : nil, i < y.count ? y[i] : nil, path: path.isEmpty ? "\(i)" : "\(path).\(i)")
            }
        default:
            return a?.canonical == b?.canonical ? [] : [path]
        }
    }

    public static func parse(yaml text: String, file: String) throws -> ConfigNode {
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw ConfigError(file: file, line: nil, key: nil, message: "not valid YAML (\(error))")
        }
        guard let node else { return .map([], line: 1) }
        var budget = maximumValues
        return try convert(node, file: file, budget: &budget)
    }

    /// The most values (scalars, lists and maps) a config may hold once YAML aliases are expanded: far more
    /// than any real config, far fewer than an alias bomb (each alias standing for a list of aliases) expands to.
    static let maximumValues = 100_000

    static func convert(_ node: Node, file: String, budget: inout Int) throws -> ConfigNode {
        let line = (node.mark?.line ?? 0)
        budget -= 1
        guard budget >= 0 else {
            throw ConfigError(file: file, line: line, key: nil, message: "expands to more than \(maximumValues) values (YAML aliases that refer to aliases?)")
        }
        switch node {
        case .scalar(let s): return .scalar(s.string, line: line)
        case .sequence(let seq): return .list(try seq.map { try convert($0, file: file, budget: &budget) }, line: line)
        case .mapping(let m):
            var entries: [(key: String, value: ConfigNode, line: Int)] = []
            for (k, v) in m {
                guard let key = k.string else { throw ConfigError(file: file, line: k.mark?.line, key: nil, message: "keys must be strings") }
                if entries.contains(where: { $0.key == key }) {
                    throw ConfigError(file: file, line: k.mark?.line, key: key, message: "appears twice")
                }
                entries.append((key, try convert(v, file: file, budget: &budget), k.mark?.line ?? line))
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

    /// One of a fixed set of names, as its value; the error lists the names.
    public func choice<E: CaseIterable & RawRepresentable>(_ key: String, default d: E) throws -> E where E.RawValue == String {
        try choice(key) ?? d
    }

    public func choice<E: CaseIterable & RawRepresentable>(_ key: String) throws -> E? where E.RawValue == String {
        guard let s = try string(key, oneOf: E.allCases.map(\.rawValue)) else { return nil }
        return E(rawValue: s)!
    }

    /// A path to a file or folder that must exist. Relative paths are read from the current directory
    /// (where `autodidact` runs), not the config file's folder; the error says so.
    public func existingPath(_ key: String, default d: String? = nil, folder: Bool = false) throws -> String? {
        guard let p = try string(key, default: d) else { return nil }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else {
            throw error(key, "'\(p)' does not exist" + (p.hasPrefix("/") ? "" : " (relative paths are read from the current directory, \(FileManager.default.currentDirectoryPath))"))
        }
        if folder && !isDir.boolValue { throw error(key, "'\(p)' is not a folder") }
        return p
    }

    /// Refuses keys that were never read, suggesting the closest key that is read here.
    public func finish() throws {
        for e in entries where !used.contains(e.key) {
            var best: (key: String, distance: Int)?
            for k in used.sorted() {
                let d = ConfigReader.editDistance(k, e.key)
                if d <= max(2, e.key.count / 3) && d < (best?.distance ?? Int.max) { best = (k, d) }
            }
            let hint = best.map { " (did you mean '\($0.key)'?)" } ?? ""
            throw ConfigError(file: file, line: e.line, key: full(e.key), message: "unknown key" + hint)
        }
    }

    /// Levenshtein distance of two keys.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for (i, ca) in a.enumerated() {
            var diagonal = row[0]
            row[0] = i + 1
            for (j, cb) in b.enumerated() {
                let above = row[j + 1]
                row[j + 1] = min(above + 1, row[j] + 1, diagonal + (ca == cb ? 0 : 1))
                diagonal = above
            }
        }
        return row[b.count]
    }
}

extension ConfigReader {
    /// The sampling settings of a phase, read from the keys it has (`keys`, a subset of temperature,
    /// top_p, top_k, max_new_tokens and stop) over `defaults`, and checked by `SamplingParameters.problem`,
    /// the ranges the command line checks too.
    func sampling(_ keys: [String], defaults: SamplingParameters) throws -> SamplingParameters {
        var p = defaults
        for key in keys {
            switch key {
            case "temperature": p.temperature = Float(try double(key, default: Double(p.temperature)))
            case "top_p": p.topP = Float(try double(key, default: Double(p.topP)))
            case "top_k": p.topK = try int(key, default: p.topK)
            case "max_new_tokens": p.maxNewTokens = try int(key, default: p.maxNewTokens)
            case "stop": p.stop = try strings(key, default: p.stop)
            default: preconditionFailure("not a sampling key: \(key)")
            }
        }
        if let (key, message) = p.problem(), keys.contains(key) { throw error(key, message) }
        return p
    }
}

extension SamplingParameters {
    /// Defaults for a phase's sampling: prompts longer than the context keep their last tokens.
    static func phase(temperature: Float, maxNewTokens: Int, topP: Float = 1) -> SamplingParameters {
        var p = SamplingParameters()
        p.temperature = temperature; p.maxNewTokens = maxNewTokens; p.topP = topP; p.truncatePrompts = true
        return p
    }
}
