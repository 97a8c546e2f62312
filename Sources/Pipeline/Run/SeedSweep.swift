import Cluster
import Foundation
import Logging
import Model

/// Several seeds of one config (`run.seeds` or `run --seeds N`): the whole schedule once per seed (`run.seed`,
/// `run.seed + 1`, ...), each a complete run of its own in `output_dir/seed-S`, then a table across the seeds
/// (`output_dir/seeds.md`) read back from each folder's evaluation records. A gain counts when it holds
/// across seeds, not in one run.
public struct SeedSweep {
    public let config: RunConfig
    public init(config: RunConfig) { self.config = config }

    public var seeds: [UInt64] { (0..<config.seeds).map { config.seed + UInt64($0) } }
    public var tableURL: URL { URL(fileURLWithPath: config.outputDir).appendingPathComponent("seeds.md") }

    /// The config of one seed's run: the same but for `run.seed`, `run.output_dir` and `run.seeds` (1).
    public func config(seed: UInt64) throws -> RunConfig {
        // Spelled as output_dir is (relative stays relative), so that `run.seed=S run.output_dir=DIR/seed-S
        // run.seeds=1` names the same run.
        let dir = (config.outputDir.hasSuffix("/") ? config.outputDir : config.outputDir + "/") + "seed-\(seed)"
        var tree = config.tree
        for (key, value) in [("seed", String(seed)), ("output_dir", dir), ("seeds", "1")] {
            tree = tree.setting(["run", key], to: .scalar(value, line: 0))
        }
        return try RunConfig(tree: tree, file: config.file)
    }

    /// Runs (or with `resume` continues) every seed's schedule in turn on `cluster`, then writes and returns
    /// the table across seeds.
    public func run(cluster: Cluster, resume: Bool, force: Bool, logger: Logger) throws -> String {
        var dirs: [(seed: UInt64, dir: URL)] = []
        for seed in seeds {
            let c = try config(seed: seed)
            logger.info("seed \(seed) (\(dirs.count + 1) of \(seeds.count)): \(c.outputDir)")
            let scheduler = try Scheduler(config: c, cluster: cluster, resume: resume, force: force, logger: logger)
            if case .alreadyFinished = try scheduler.run() { logger.info("seed \(seed): already finished") }
            dirs.append((seed, URL(fileURLWithPath: c.outputDir)))
        }
        let table = try SeedSweep.table(dirs)
        try AtomicFile.write(Data((table + "\n").utf8), to: tableURL)
        do { try RunReport.write([tableURL.deletingLastPathComponent()]) } catch { logger.warning("the seeds' report could not be written: \(error)") }
        return table
    }

    /// One seed's evaluations as its run folder holds them: rows in schedule order (start, rounds, control),
    /// each with whether the promotion gate kept its model.
    struct SeedRows {
        var seed: UInt64
        var rows: [(label: String, result: EvaluationResult, promoted: Bool)]
        var start: EvaluationResult? { rows.first?.result }
        /// The evaluation of the model the run ended with: the last promoted round's, or the start's.
        var final: (label: String, result: EvaluationResult)? {
            rows.last { $0.label.hasPrefix("round") && $0.promoted }.map { ($0.label, $0.result) } ?? rows.first.map { ($0.label, $0.result) }
        }
        var control: EvaluationResult? { rows.first { $0.label.hasPrefix("control") }?.result }
    }

    static func read(seed: UInt64, dir: URL) throws -> SeedRows {
        func evaluation(_ folder: RoundFolder) throws -> EvaluationResult? {
            folder.exists(.evaluation) ? try PromotionGate.read(EvaluationResult.self, folder.url(.evaluation)) : nil
        }
        var rows: [(String, EvaluationResult, Bool)] = []
        if let s = try evaluation(.initial(in: dir)) { rows.append((s.label, s, true)) }
        var r = 1
        while FileManager.default.fileExists(atPath: RoundFolder.round(r, in: dir).url.path) {
            let folder = RoundFolder.round(r, in: dir)
            if let e = try evaluation(folder) {
                let decision = FileManager.default.contents(atPath: folder.url(.promotion).path)
                    .flatMap { try? JSONDecoder().decode(PromotionGate.Decision.self, from: $0) }
                rows.append((e.label, e, decision?.promoted ?? true))
            }
            r += 1
        }
        if let c = try evaluation(.control(in: dir)) { rows.append((c.label, c, true)) }
        return SeedRows(seed: seed, rows: rows)
    }

    /// The table across seeds of the run folders `dirs` (seed, folder), as markdown.
    public static func table(_ dirs: [(seed: UInt64, dir: URL)]) throws -> String {
        let seeds = try dirs.map { try read(seed: $0.seed, dir: $0.dir) }
        let pct = { (x: Double) in String(format: "%.1f%%", 100 * x) }
        var labels: [String] = []
        for s in seeds { for row in s.rows where !labels.contains(row.label) { labels.append(row.label) } }
        var lines = ["| model | " + seeds.map { "seed \($0.seed): accuracy (95% CI), p vs start" }.joined(separator: " | ") + " | mean (sd) | min-max |",
                     "|---|" + String(repeating: "---|", count: seeds.count + 2)]
        for label in labels {
            var cells: [String] = [], values: [Double] = []
            for s in seeds {
                guard let row = s.rows.first(where: { $0.label == label }) else { cells.append("-"); continue }
                let r = row.result
                values.append(r.accuracy)
                var cell = "\(pct(r.accuracy)) (\(pct(r.interval.low))-\(pct(r.interval.high)))"
                if let start = s.start, start != r, start.correct.count == r.correct.count { cell += String(format: ", p = %.2g", r.pValue(against: start)) }
                if !row.promoted { cell += ", not promoted" }
                cells.append(cell)
            }
            let (mean, sd) = Statistics.meanAndSD(values)
            let spread = values.isEmpty ? "-" : "\(pct(values.min()!))-\(pct(values.max()!))"
            lines.append("| \(label) | " + cells.joined(separator: " | ") + " | \(pct(mean)) (\(String(format: "%.1f", 100 * sd))) | \(spread) |")
        }
        lines += ["", "In how many of \(seeds.count) seeds each conclusion holds (exact McNemar, p < 0.05, on the same test problems):"]
        func count(_ test: (SeedRows) -> Bool?) -> String {
            let answers = seeds.compactMap(test)
            return "\(answers.filter { $0 }.count) of \(answers.count)"
        }
        func significant(_ a: EvaluationResult, over b: EvaluationResult) -> Bool {
            a.correct.count == b.correct.count && a.accuracy > b.accuracy && a.pValue(against: b) < 0.05
        }
        lines.append("- the final model above the start: \(count { s in s.final.flatMap { f in s.start.map { significant(f.result, over: $0) } } })")
        lines.append("- the final model below the start: \(count { s in s.final.flatMap { f in s.start.map { significant($0, over: f.result) } } })")
        if seeds.contains(where: { $0.control != nil }) {
            lines.append("- the final model above the control: \(count { s in s.final.flatMap { f in s.control.map { significant(f.result, over: $0) } } })")
            lines.append("- the control above the final model: \(count { s in s.final.flatMap { f in s.control.map { significant($0, over: f.result) } } })")
        }
        let finals = seeds.map { s in "seed \(s.seed): \(s.final?.label ?? "-")" }.joined(separator: ", ")
        lines.append("- the final model of each seed (the last promoted round): \(finals)")
        return lines.joined(separator: "\n")
    }

    /// The run folders of `dir`: its `seed-S` subfolders by seed, or `dir` itself (seed from its config).
    static func runFolders(_ dir: URL) throws -> [(seed: UInt64, dir: URL)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        let seeds = names.compactMap { $0.hasPrefix("seed-") ? UInt64($0.dropFirst(5)) : nil }.sorted()
        if !seeds.isEmpty { return seeds.map { ($0, dir.appendingPathComponent("seed-\($0)")) } }
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent(RunState.fileName).path) else {
            throw PipelineError("\(dir.path): neither a run folder (no \(RunState.fileName)) nor a folder of seed-S run folders")
        }
        let config = try? JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent(RunState.configFileName))) as? [String: Any]
        let seed = ((config?["run"] as? [String: Any])?["seed"] as? Int).map(UInt64.init) ?? 0
        return [(seed, dir)]
    }

    /// Two arms seed by seed (e.g. IRPO against its RFT control): each seed's final model (the last promoted
    /// round's) against the other arm's of the same seed, on the same test problems, by exact McNemar.
    public static func compare(_ a: URL, _ b: URL) throws -> String {
        let left = try runFolders(a), right = try runFolders(b)
        let pct = { (x: Double) in String(format: "%.1f%%", 100 * x) }
        // A seed's folder is named with its parent's name too ("irpo-smollm2/seed-0"), so that two seeds' folders read apart.
        func name(_ u: URL) -> String {
            u.lastPathComponent.hasPrefix("seed-") ? u.deletingLastPathComponent().lastPathComponent + "/" + u.lastPathComponent : u.lastPathComponent
        }
        var lines = ["| seed | A = \(name(a)): final model, accuracy (95% CI) | B = \(name(b)): final model, accuracy (95% CI) | only A right / only B right | McNemar p |",
                     "|---|---|---|---|---|"]
        var compared = 0
        for l in left {
            guard let r = right.first(where: { $0.seed == l.seed }) else { continue }
            guard let fa = try read(seed: l.seed, dir: l.dir).final, let fb = try read(seed: r.seed, dir: r.dir).final else { continue }
            guard fa.result.correct.count == fb.result.correct.count else {
                throw PipelineError("seed \(l.seed): \(l.dir.path) and \(r.dir.path) were evaluated on different numbers of problems")
            }
            let m = Statistics.mcnemar(before: fb.result.correct, after: fa.result.correct)
            func cell(_ f: (label: String, result: EvaluationResult)) -> String {
                "\(f.label): \(pct(f.result.accuracy)) (\(pct(f.result.interval.low))-\(pct(f.result.interval.high)))"
            }
            lines.append("| \(l.seed) | \(cell(fa)) | \(cell(fb)) | \(m.c) / \(m.b) | \(String(format: "%.2g", m.p)) |")
            compared += 1
        }
        guard compared > 0 else { throw PipelineError("\(a.path) and \(b.path) have no finished seed in common") }
        return lines.joined(separator: "\n")
    }
}
