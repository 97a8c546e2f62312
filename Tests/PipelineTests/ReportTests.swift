import Foundation
import Testing
import Pipeline
import TestSupport

/// `report.html`: written by the run itself, self-contained, its figures those of the run's files, model
/// outputs escaped however hostile, several runs side by side; and looked at as a person would, in headless
/// Chromium (no console message, the sections and plots there, a picture that is not blank).
@Suite(.serialized) struct ReportTests {
    static let dir = Paths.temporaryDirectory("report")

    /// A finished micro run (ResumeTests' configuration), made once.
    static func finishedRun() throws -> URL {
        let out = dir.appendingPathComponent("run")
        if !FileManager.default.fileExists(atPath: out.appendingPathComponent("summary.md").path) {
            try? FileManager.default.removeItem(at: out)
            let r = try autodidact(["run", try ResumeTests.configPath(), "run.output_dir=\(out.path)"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        return out
    }

    static let sections = ["accuracy", "pairs", "judge", "lengths", "timing", "training", "examples", "config"]

    @Test func theRunWritesItsReportWithTheSummarysFigures() throws {
        let out = try Self.finishedRun()
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        for id in Self.sections { #expect(html.contains("<section id=\"\(id)\">"), "\(id)") }
        // Every accuracy of summary.md, with its interval, in the report's table.
        let summary = try String(contentsOf: out.appendingPathComponent("summary.md"), encoding: .utf8)
        for row in summary.split(separator: "\n") where row.hasPrefix("| SFT") || row.hasPrefix("| round") || row.hasPrefix("| control") {
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            // "56.3% (53.2-59.3)" in the table is "56.3% (53.2%-59.3%)" in the report.
            let figure = cells[1].replacingOccurrences(of: "-", with: "%-").replacingOccurrences(of: ")", with: "%)")
            #expect(html.contains("<td>\(cells[0])</td><td>\(figure)</td>"), "\(cells[0]) \(figure)")
        }
        // One accuracy marker per evaluation, one training chart per curve the metrics have, the pairs' counts.
        let evaluations = summary.split(separator: "\n").filter { $0.hasPrefix("| SFT") || $0.hasPrefix("| round") || $0.hasPrefix("| control") }.count
        let accuracy = try #require(html.range(of: "data-plot=\"accuracy\"")).upperBound
        let accuracyFigure = String(html[accuracy...]).components(separatedBy: "</figure>")[0]
        #expect(accuracyFigure.components(separatedBy: "<circle").count - 1 == evaluations)
        let pairs = try String(contentsOf: out.appendingPathComponent("round-01/pairs.jsonl"), encoding: .utf8).split(separator: "\n").count
        #expect(html.contains("<td>\(pairs)</td>"))
        #expect(html.contains("round-1-3-train (") && html.contains("<title>rewards/margins</title>"))
        #expect(!html.contains("<script") && !html.contains("<link") && !html.contains("src=") && !html.contains("url("))
        // summary.md's worst cases: the questions the start got right and the final round wrong, from the files.
        func correct(_ folder: String) throws -> [(id: String, right: Bool)] {
            try String(contentsOf: out.appendingPathComponent("\(folder)/evaluation.jsonl"), encoding: .utf8).split(separator: "\n").map {
                let o = try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
                return (o["id"] as! String, o["correct"] as! Bool)
            }
        }
        let lost = zip(try correct("initial"), try correct("round-01")).filter { $0.0.right && !$0.1.right }.map(\.0.id)
        if lost.isEmpty {
            #expect(!summary.contains("Worst cases"))
        } else {
            #expect(summary.contains("Worst cases: \(lost.count) test question(s) SFT answered right and round 1 answers wrong"), "\(summary)")
            #expect(summary.contains("[round-01/evaluation.jsonl](round-01/evaluation.jsonl)): " + lost.prefix(8).map { "`\($0)`" }.joined(separator: ", ")), "\(summary)")
        }
        // Every training phase's step lines carry what the training section plots, and the throughput.
        for folder in ["initial", "round-01", "control"] {
            let lines = try String(contentsOf: out.appendingPathComponent("\(folder)/metrics.jsonl"), encoding: .utf8).split(separator: "\n")
            let steps = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }.filter { $0["step"] != nil }
            #expect(!steps.isEmpty, "\(folder)")
            for s in steps {
                #expect(["loss", "lr", "grad_norm"].allSatisfy { s[$0] is Double } && (s["tokens_per_s"] as? Double ?? 0) > 0, "\(folder): \(s)")
            }
        }
    }

    /// Model outputs that try markup, quotes, closing the SVG and invalid UTF-8 come out as text.
    @Test func modelOutputsAreEscaped() throws {
        let run = try Self.finishedRun()
        let out = Self.dir.appendingPathComponent("hostile")
        try? FileManager.default.removeItem(at: out)
        try FileManager.default.copyItem(at: run, to: out)
        let hostile = "</pre></svg><script>alert(\"x\")</script><img src=x onerror='y'>&amp;"
        let escaped = "&lt;/pre&gt;&lt;/svg&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=&#39;y&#39;&gt;&amp;amp;"
        for (file, key) in [("round-01/pairs.jsonl", "chosen"), ("round-01/evaluation.jsonl", "answer")] {
            let url = out.appendingPathComponent(file)
            var lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
            var first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
            first[key] = hostile
            lines[0] = String(decoding: try JSONSerialization.data(withJSONObject: first, options: [.sortedKeys]), as: UTF8.self)
            // Invalid UTF-8 (a lone continuation byte and a cut sequence) inside the second record's text.
            var data = Data(lines.joined(separator: "\n").utf8)
            let marker = Data("\"\(key)\":\"".utf8)
            let second = data.range(of: marker, in: data.range(of: Data("\n".utf8))!.upperBound..<data.endIndex)!.upperBound
            data.insert(contentsOf: [0x80, 0xE2, 0x82], at: second)
            try data.write(to: url)
        }
        let r = try autodidact(["report", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        let html = String(decoding: try Data(contentsOf: out.appendingPathComponent("report.html")), as: UTF8.self)
        #expect(html.components(separatedBy: escaped).count - 1 == 2, "both hostile texts shown escaped")
        #expect(!html.contains("<script") && !html.contains("<img"))
        #expect(html.components(separatedBy: "<svg").count == html.components(separatedBy: "</svg>").count)
        #expect(html.components(separatedBy: "<pre").count == html.components(separatedBy: "</pre>").count)
        #expect(html.contains("\u{FFFD}"), "invalid bytes shown as U+FFFD")
        #expect(String(data: try Data(contentsOf: out.appendingPathComponent("report.html")), encoding: .utf8) != nil, "the page is valid UTF-8")
    }

    /// Two runs in one report: one accuracy chart with a series each, a table each.
    @Test func severalRunsSideBySide() throws {
        let a = try Self.finishedRun()
        let b = Self.dir.appendingPathComponent("other")
        if !FileManager.default.fileExists(atPath: b.appendingPathComponent("summary.md").path) {
            try? FileManager.default.removeItem(at: b)
            let r = try autodidact(["run", try ResumeTests.configPath(), "run.output_dir=\(b.path)", "run.seed=4"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let output = Self.dir.appendingPathComponent("both.html")
        let r = try autodidact(["report", a.path, b.path, "--output", output.path])
        #expect(r.status == 0 && r.stdout.contains(output.path), "\(r.stderr)")
        let html = try String(contentsOf: output, encoding: .utf8)
        #expect(html.components(separatedBy: "data-plot=\"accuracy\"").count - 1 == 1)
        #expect(html.contains("<span><i style=\"background:#1f77b4\"></i>run</span>") && html.contains("</i>other</span>"))
        #expect(html.contains("<h3>run</h3>") && html.contains("<h3>other</h3>"))
        let missing = try autodidact(["report", Self.dir.appendingPathComponent("nothing-here").path])
        #expect(missing.status == 1 && missing.stderr.contains("nothing-here: neither a run folder"), "\(missing.stderr)")
    }

    /// The page in headless Chromium: it loads with no console message at all (the page has no script; a
    /// page that logs an error is caught by the same check), the DOM after loading has every section and
    /// plot, and the screenshot is a PNG of the window's size with content.
    @Test func chromiumRendersTheReport() throws {
        let out = try Self.finishedRun()
        let page = out.appendingPathComponent("report.html")
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0", "--hide-scrollbars"]
        func consoleLines(_ stderr: String) -> [Substring] { stderr.split(separator: "\n").filter { $0.contains(":CONSOLE") } }

        let bad = Self.dir.appendingPathComponent("bad.html")
        try "<html><body><script>console.error('boom')</script></body></html>".write(to: bad, atomically: true, encoding: .utf8)
        let control = try run(["chromium"] + flags + ["--dump-dom", bad.absoluteString])
        #expect(consoleLines(control.stderr).contains { $0.contains("boom") }, "the check sees a console error: \(control.stderr)")

        let dom = try run(["chromium"] + flags + ["--dump-dom", page.absoluteString])
        #expect(dom.status == 0, "\(dom.stderr)")
        #expect(consoleLines(dom.stderr).isEmpty, "\(consoleLines(dom.stderr))")
        for id in Self.sections { #expect(dom.stdout.contains("<section id=\"\(id)\">"), "\(id)") }
        for plot in ["accuracy", "lengths", "timing", "training"] {
            #expect(dom.stdout.range(of: "data-plot=\"\(plot)\">\\s*<svg", options: .regularExpression) != nil, "\(plot)")
        }
        #expect(dom.stdout.contains("<polyline") && dom.stdout.contains("<rect"))

        let png = Self.dir.appendingPathComponent("report.png")
        try? FileManager.default.removeItem(at: png)
        let shot = try run(["chromium"] + flags + ["--window-size=1200,1600", "--screenshot=\(png.path)", page.absoluteString])
        #expect(shot.status == 0, "\(shot.stderr)")
        let bytes = try Data(contentsOf: png)
        #expect(bytes.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        let be = { (o: Int) in bytes[o..<o + 4].reduce(0) { $0 << 8 | Int($1) } }
        #expect(be(16) == 1200 && be(20) == 1600, "IHDR \(be(16))x\(be(20))")
        // A white page of this size compresses to a few kilobytes; plots, tables and text do not.
        #expect(bytes.count > 40_000, "\(bytes.count) bytes")
    }
}

