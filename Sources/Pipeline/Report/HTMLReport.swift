import Foundation
import Model

/// Escaping for the report: every text from records, configs and paths goes through `escape`.
enum HTML {
    /// `s` safe as element text and as a quoted attribute value: markup characters as entities, control
    /// characters (other than newline and tab) replaced by U+FFFD.
    static func escape(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        for c in s.unicodeScalars {
            switch c {
            case "&": out.append(contentsOf: "&amp;".unicodeScalars)
            case "<": out.append(contentsOf: "&lt;".unicodeScalars)
            case ">": out.append(contentsOf: "&gt;".unicodeScalars)
            case "\"": out.append(contentsOf: "&quot;".unicodeScalars)
            case "'": out.append(contentsOf: "&#39;".unicodeScalars)
            case "\n", "\t": out.append(c)
            default: out.append(c.value < 0x20 || (0x7F...0x9F).contains(c.value) ? "\u{FFFD}" : c)
            }
        }
        return String(out)
    }
}

/// `report.html`: one self-contained page (inline SVG and CSS, no script, nothing fetched) about one run or
/// several side by side: accuracy per round with 95% intervals and McNemar p-values, pairs kept by each
/// filter, judge audits, answer lengths, phase wall times, each training phase's curves, a few pairs and
/// answers per round, and the configs and commands.
public enum RunReport {
    /// The runs of `dirs`: each run folder, or each seed of a folder of `seed-S` run folders.
    static func runs(_ dirs: [URL]) throws -> [ReportedRun] {
        try dirs.flatMap { dir -> [ReportedRun] in
            let folders = try SeedSweep.runFolders(dir)
            if folders.count == 1 && folders[0].dir == dir { return [try ReportedRun(name: dir.lastPathComponent, dir: dir)] }
            return try folders.map { try ReportedRun(name: "\(dir.lastPathComponent) seed \($0.seed)", dir: $0.dir) }
        }
    }

    /// Writes the report of `dirs` to `output` (by default `report.html` in the only run folder given, or in
    /// the current directory); returns its path.
    @discardableResult
    public static func write(_ dirs: [URL], to output: URL? = nil, now: Date = Date()) throws -> URL {
        guard !dirs.isEmpty else { throw PipelineError("report: give at least one run folder") }
        let url = output ?? (dirs.count == 1 ? dirs[0] : URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
            .appendingPathComponent(RunFile.report.rawValue)
        try AtomicFile.write(Data(try page(runs(dirs), now: now).utf8), to: url)
        return url
    }

    static func page(_ runs: [ReportedRun], now: Date) -> String {
        let names = runs.map(\.name).joined(separator: ", ")
        let sections: [(id: String, title: String, body: String)] = [
            ("accuracy", "Accuracy per round", accuracy(runs)),
            ("pairs", "Pairs and filters", pairs(runs)),
            ("judge", "Judge audit", judge(runs)),
            ("lengths", "Answer lengths", lengths(runs)),
            ("timing", "Phase wall times", timing(runs)),
            ("training", "Training", training(runs)),
            ("examples", "Examples", examples(runs)),
            ("config", "Configuration and commands", configs(runs)),
        ]
        let stamp = ISO8601DateFormatter().string(from: now)
        var out = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
                   "<title>Autodidact report: \(HTML.escape(names))</title>", "<style>\(style)</style></head><body>",
                   "<h1>Autodidact report</h1>",
                   "<p class=\"meta\">\(HTML.escape(names)) &middot; written \(HTML.escape(stamp)) by <code>autodidact report</code></p>"]
        for r in runs { if let s = r.status { out.append("<p class=\"meta\">\(HTML.escape(s))</p>") } }
        out.append("<nav>" + sections.map { "<a href=\"#\($0.id)\">\(HTML.escape($0.title))</a>" }.joined(separator: " ") + "</nav>")
        for s in sections { out.append("<section id=\"\(s.id)\"><h2>\(HTML.escape(s.title))</h2>\n\(s.body)\n</section>") }
        out.append("</body></html>")
        return out.joined(separator: "\n") + "\n"
    }

    // MARK: sections

    /// A label as a chart shows it: "control (SFT, same compute)" is "control".
    static func short(_ label: String) -> String { label.components(separatedBy: " (")[0] }

    static func pct(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }
    static func p(_ x: Double) -> String { String(format: "%.2g", x) }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        "<table><thead><tr>" + header.map { "<th>\(HTML.escape($0))</th>" }.joined() + "</tr></thead><tbody>\n"
            + rows.map { "<tr>" + $0.map { "<td>\(HTML.escape($0))</td>" }.joined() + "</tr>" }.joined(separator: "\n") + "\n</tbody></table>"
    }

    static func accuracy(_ runs: [ReportedRun]) -> String {
        var labels: [String] = []
        for r in runs { for row in r.rows where !labels.contains(row.label) { labels.append(row.label) } }
        let series = runs.map { r in
            SVGChart.Series(name: r.name, points: r.rows.map { (Double(labels.firstIndex(of: $0.label)!), $0.result.accuracy) },
                            intervals: r.rows.map { (Double(labels.firstIndex(of: $0.label)!), $0.result.interval.low, $0.result.interval.high) },
                            markers: true)
        }
        var out = [SVGChart(title: "Test accuracy (greedy) with 95% Wilson intervals", xLabel: "model", yLabel: "accuracy", series: series,
                            categories: labels.map(short), percent: true, width: 640, height: 290, kind: "accuracy").svg()]
        for r in runs {
            var rows: [[String]] = []
            var previous: EvaluationResult?
            let start = r.rows.first?.result
            for row in r.rows {
                let e = row.result
                let vsPrevious = previous.flatMap { $0.correct.count == e.correct.count ? p(e.pValue(against: $0)) : nil } ?? "-"
                let vsStart = start.flatMap { $0 != e && $0.correct.count == e.correct.count ? p(e.pValue(against: $0)) : nil } ?? "-"
                let folder = r.folders.first { $0.label == row.label }
                let gate = folder?.promotion.map { d in String(format: "%@ (dev %d vs %d of %d, p = %.2g)", d.promoted ? "promoted" : "not promoted", d.candidateCorrect, d.currentCorrect, d.n, d.p) } ?? "-"
                rows.append([row.label, "\(pct(e.accuracy)) (\(pct(e.interval.low))-\(pct(e.interval.high)))", "\(e.correct.count)", vsPrevious, vsStart,
                             String(format: "%.1f", e.meanLength), gate])
                if !row.label.hasPrefix("control") && row.promoted { previous = e }
            }
            out.append("<h3>\(HTML.escape(r.name))</h3>")
            out.append(table(["model", "accuracy (95% CI)", "problems", "McNemar p vs previous", "p vs \(start?.label ?? "start")", "mean length (tokens)", "promotion gate"], rows))
        }
        return out.joined(separator: "\n")
    }

    static func pairs(_ runs: [ReportedRun]) -> String {
        var out: [String] = []
        for r in runs {
            var rows: [[String]] = [], filterColumns: [String] = []
            for f in r.folders { for k in (f.phaseLine("pairs") ?? [:]).keys.sorted() where k.hasSuffix("_kept") && !filterColumns.contains(k) { filterColumns.append(k) } }
            for f in r.folders where f.name.hasPrefix("round-") {
                let g = f.phaseLine("generate"), j = f.phaseLine("judge"), pr = f.phaseLine("pairs")
                func n(_ o: [String: Any]?, _ k: String) -> String { (o?[k] as? Double).map(SVGChart.number) ?? (o?[k] as? Int).map(String.init) ?? "-" }
                var row = [f.label, n(g, "samples"), n(g, "mean_length"), (j?["fraction_correct"] as? Double).map(pct) ?? "-", n(j, "unparsed"),
                           n(pr, "pairs_before_filter")]
                row += filterColumns.map { n(pr, $0) }
                row += [n(pr, "judge_pairs"), n(pr, "pairs"), n(pr, "prompts_with_pairs")]
                rows.append(row)
            }
            out.append("<h3>\(HTML.escape(r.name))</h3>")
            out.append(rows.isEmpty ? "<p>No rounds recorded yet.</p>"
                : table(["round", "samples", "mean length", "judged correct", "unparsed verdicts", "pairs before filters"]
                        + filterColumns.map { "kept by " + $0.dropLast(5) } + ["judge pairs", "pairs trained on", "prompts with pairs"], rows))
        }
        return out.joined(separator: "\n")
    }

    static func judge(_ runs: [ReportedRun]) -> String {
        var out: [String] = []
        for r in runs {
            let audits = r.folders.compactMap(\.audit)
            guard !audits.isEmpty else { continue }
            out.append("<h3>\(HTML.escape(r.name))</h3>")
            out.append(table(["round", "mode", "gold accuracy (95% CI)", "ties", "position flips", "score-length Spearman", "mean entropy (nats)", "cut reasonings"],
                             audits.map { a in
                                 ["round \(a.round)", a.mode, "\(pct(a.goldAccuracy)) (\(pct(a.goldCI95[0]))-\(pct(a.goldCI95[1]))), \(a.goldCorrect)/\(a.goldPairs)",
                                  pct(a.tieShare), a.positionFlipRate.map(pct) ?? "-", a.scoreLengthSpearman.map { String(format: "%.2f", $0) } ?? "-",
                                  a.meanEntropy.map { String(format: "%.2f", $0) } ?? "-", "\(a.cutReasonings)"]
                             }))
        }
        return out.isEmpty ? "<p>No judge audit in these runs (no LLM judge with an audit slice).</p>" : out.joined(separator: "\n")
    }

    static func lengths(_ runs: [ReportedRun]) -> String {
        runs.map { r in
            let folders = r.folders.filter { !$0.evaluationLengths.isEmpty }
            let top = folders.flatMap(\.evaluationLengths).max() ?? 0
            let width = max(1, Int((Double(top + 1) / 24).rounded(.up)))
            let series = folders.map { f in
                var bins = [Int](repeating: 0, count: top / width + 1)
                for l in f.evaluationLengths { bins[l / width] += 1 }
                return SVGChart.Series(name: f.label, points: bins.enumerated().map { (Double($0.offset * width) + Double(width) / 2, Double($0.element) / Double(f.evaluationLengths.count)) })
            }
            return SVGChart(title: "\(r.name): lengths of the test answers (tokens, bins of \(width))", xLabel: "tokens", yLabel: "share of answers",
                            series: series, percent: true, width: 640, kind: "lengths").svg()
        }.joined(separator: "\n")
    }

    static func timing(_ runs: [ReportedRun]) -> String {
        runs.map { r in
            SVGChart.stackedBars(title: "\(r.name): wall time by phase", unit: "s", rows: r.folders.map { (short($0.label), $0.seconds) }, kind: "timing")
        }.joined(separator: "\n")
    }

    static let curves = ["loss", "lr", "grad_norm", "rewards/margins", "rewards/accuracies", "rewards/chosen", "rewards/rejected", "nll_loss", "validation_accuracy"]

    static func training(_ runs: [ReportedRun]) -> String {
        var out: [String] = []
        for r in runs {
            for f in r.folders {
                for (key, steps) in f.trainingPhases {
                    out.append("<h3>\(HTML.escape("\(r.name): \(key)")) (\(steps.count) steps)</h3><div class=\"row\">")
                    for name in curves {
                        let points = steps.compactMap { s -> (x: Double, y: Double)? in
                            guard let step = s["step"] as? Int, let y = s[name] as? Double else { return nil }
                            return (Double(step), y)
                        }
                        if points.isEmpty { continue }
                        out.append(SVGChart(title: name, xLabel: "step", yLabel: name, series: [.init(name: "", points: points)],
                                            percent: name.hasSuffix("accuracies") || name.hasSuffix("accuracy"), width: 300, height: 200, kind: "training").svg())
                    }
                    out.append("</div>")
                }
            }
        }
        return out.isEmpty ? "<p>No training steps recorded yet.</p>" : out.joined(separator: "\n")
    }

    static func examples(_ runs: [ReportedRun]) -> String {
        var out: [String] = []
        for r in runs {
            for f in r.folders where !f.pairs.isEmpty || !f.answers.isEmpty {
                out.append("<h3>\(HTML.escape("\(r.name): \(f.label)"))</h3>")
                for (i, pair) in f.pairs.enumerated() {
                    out.append("<div class=\"pair\"><p class=\"k\">pair \(i + 1): prompt</p><pre>\(HTML.escape(pair.prompt))</pre>"
                               + "<div class=\"row\"><div><p class=\"k\">chosen</p><pre class=\"chosen\">\(HTML.escape(pair.chosen))</pre></div>"
                               + "<div><p class=\"k\">rejected</p><pre class=\"rejected\">\(HTML.escape(pair.rejected))</pre></div></div></div>")
                }
                for a in f.answers {
                    out.append("<div class=\"answer\"><p class=\"k\">test question (answer \(a.correct ? "right" : "wrong"))</p><pre>\(HTML.escape(a.question))</pre>"
                               + "<pre class=\"\(a.correct ? "chosen" : "rejected")\">\(HTML.escape(a.answer))</pre></div>")
                }
            }
        }
        return out.isEmpty ? "<p>No pairs or answers recorded yet.</p>" : out.joined(separator: "\n")
    }

    static func configs(_ runs: [ReportedRun]) -> String {
        runs.map { r in
            "<h3>\(HTML.escape(r.name))</h3><p class=\"k\">\(HTML.escape(r.dir.relativePath))</p>"
                + (r.commands.isEmpty ? "" : "<pre>\(HTML.escape(r.commands.joined(separator: "\n")))</pre>")
                + "<pre>\(HTML.escape(r.config ?? "(no config.yaml)"))</pre>"
        }.joined(separator: "\n")
    }

    static let style = """
    body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#222;padding:0 1em}
    h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;margin-top:1.8em}h3{font-size:1.05em;margin:1.2em 0 .4em}
    nav a{margin-right:1em}.meta{color:#555;margin:.2em 0}table{border-collapse:collapse;margin:.4em 0}
    td,th{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}th{background:#f4f4f4}
    td:nth-child(-n+2){white-space:nowrap}
    figure.plot{display:inline-block;margin:.3em .6em .6em 0}.row{display:flex;flex-wrap:wrap;gap:.6em}
    .row>div{flex:1;min-width:280px}svg .frame{fill:none;stroke:#999}svg .grid{stroke:#e4e4e4}
    svg .line{fill:none;stroke-width:1.6}svg .ci{stroke-width:2}svg text{font:11px system-ui,sans-serif;fill:#333}
    svg .t{font-weight:600}svg .yt{text-anchor:end}svg .xt,svg .xl{text-anchor:middle}
    .legend span{margin-right:1em}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
    pre{background:#f7f7f7;padding:.5em;white-space:pre-wrap;word-break:break-word;margin:.2em 0}
    pre.chosen{border-left:4px solid #2ca02c}pre.rejected{border-left:4px solid #d62728}.k{color:#555;margin:.4em 0 0}
    """
}
