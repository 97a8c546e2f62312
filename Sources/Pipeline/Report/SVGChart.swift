import Foundation

/// The report's plots, drawn as inline SVG by the project (no script, no network): line charts with optional
/// 95% interval bars, over numbers or over named categories, and stacked horizontal bars. Every text that
/// goes in is escaped here.
struct SVGChart {
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
        /// Interval bars (low, high) at the points' x, when the series has them.
        var intervals: [(x: Double, low: Double, high: Double)] = []
        /// Markers at the points (category charts), else a bare line.
        var markers = false
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]
    /// Names of the x positions 0, 1, 2... (a category chart), else numeric ticks.
    var categories: [String]? = nil
    /// The y axis as a percentage of 1.
    var percent = false
    var width = 460.0, height = 250.0
    /// A name for the figure, for tests and links (`data-plot`).
    var kind: String

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]
    static func color(_ i: Int) -> String { palette[i % palette.count] }

    let left = 58.0, right = 12.0, top = 28.0, bottom = 46.0

    func svg() -> String {
        var xs: [Double] = series.flatMap { s in s.points.map { $0.x } }
        if let c = categories { xs += [0, Double(max(0, c.count - 1))] }
        xs = xs.filter { $0.isFinite }
        var ys: [Double] = series.flatMap { s in s.points.map { $0.y } }
        ys += series.flatMap { s in s.intervals.flatMap { [$0.low, $0.high] } }
        ys = ys.filter { $0.isFinite }
        guard let x0 = xs.min(), let x1 = xs.max(), let y0 = ys.min(), let y1 = ys.max() else {
            return "<figure class=\"plot\" data-plot=\"\(HTML.escape(kind))\"><figcaption>\(HTML.escape(title)): nothing recorded</figcaption></figure>"
        }
        let xPad = categories != nil ? 0.5 : 0
        let (xa, xb) = (x0 - xPad, x1 + xPad == x0 - xPad ? x1 + 1 : x1 + xPad)
        let yTicks = Self.ticks(percent ? min(0, y0) : y0, percent ? max(y1, y0 + 0.01) : y1)
        let (ya, yb) = (yTicks.first!, yTicks.last!)
        let pw = width - left - right, ph = height - top - bottom
        func px(_ x: Double) -> Double { left + (x - xa) / (xb - xa) * pw }
        func py(_ y: Double) -> Double { top + ph - (y - ya) / (yb - ya) * ph }
        var out = ["<figure class=\"plot\" data-plot=\"\(HTML.escape(kind))\">",
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(f(width)) \(f(height))\" width=\"\(f(width))\" height=\"\(f(height))\" role=\"img\">",
                   "<title>\(HTML.escape(title))</title>",
                   "<text x=\"\(f(left))\" y=\"16\" class=\"t\">\(HTML.escape(title))</text>",
                   "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(pw))\" height=\"\(f(ph))\" class=\"frame\"/>"]
        for t in yTicks {
            out.append("<line x1=\"\(f(left))\" x2=\"\(f(left + pw))\" y1=\"\(f(py(t)))\" y2=\"\(f(py(t)))\" class=\"grid\"/>")
            out.append("<text x=\"\(f(left - 4))\" y=\"\(f(py(t) + 4))\" class=\"yt\">\(HTML.escape(percent ? Self.number(100 * t) + "%" : Self.number(t)))</text>")
        }
        if let categories {
            for (i, c) in categories.enumerated() {
                out.append("<text x=\"\(f(px(Double(i))))\" y=\"\(f(top + ph + 14))\" class=\"xt\">\(HTML.escape(c))</text>")
            }
        } else {
            for t in Self.ticks(x0, x1 == x0 ? x0 + 1 : x1) where t >= xa && t <= xb {
                out.append("<text x=\"\(f(px(t)))\" y=\"\(f(top + ph + 14))\" class=\"xt\">\(HTML.escape(Self.number(t)))</text>")
            }
        }
        out.append("<text x=\"\(f(left + pw / 2))\" y=\"\(f(height - 8))\" class=\"xl\">\(HTML.escape(xLabel))</text>")
        out.append("<text transform=\"translate(12 \(f(top + ph / 2))) rotate(-90)\" class=\"xl\">\(HTML.escape(yLabel))</text>")
        // Several series on categories stand side by side around each position.
        let spread = categories != nil && series.count > 1 ? min(0.3, 0.6 / Double(series.count)) : 0
        for (i, s) in series.enumerated() {
            let shift = spread * (Double(i) - Double(series.count - 1) / 2), color = Self.color(i)
            let pts = s.points.filter { $0.x.isFinite && $0.y.isFinite }
            if pts.count > 1 {
                let path = pts.map { "\(f(px($0.x + shift))),\(f(py($0.y)))" }.joined(separator: " ")
                out.append("<polyline points=\"\(path)\" class=\"line\" stroke=\"\(color)\"><title>\(HTML.escape(s.name))</title></polyline>")
            }
            for iv in s.intervals where iv.low.isFinite && iv.high.isFinite {
                let x = f(px(iv.x + shift))
                out.append("<line x1=\"\(x)\" x2=\"\(x)\" y1=\"\(f(py(iv.low)))\" y2=\"\(f(py(iv.high)))\" class=\"ci\" stroke=\"\(color)\"/>")
            }
            if s.markers || pts.count == 1 {
                for p in pts {
                    let label = "\(s.name): " + (percent ? Self.number(100 * p.y) + "%" : Self.number(p.y))
                    out.append("<circle cx=\"\(f(px(p.x + shift)))\" cy=\"\(f(py(p.y)))\" r=\"3.5\" fill=\"\(color)\"><title>\(HTML.escape(label))</title></circle>")
                }
            }
        }
        out.append("</svg>")
        if series.count > 1 || !(series.first?.name.isEmpty ?? true) {
            out.append("<figcaption class=\"legend\">" + series.enumerated().map { i, s in
                "<span><i style=\"background:\(Self.color(i))\"></i>\(HTML.escape(s.name))</span>"
            }.joined(separator: " ") + "</figcaption>")
        }
        out.append("</figure>")
        return out.joined(separator: "\n")
    }

    /// Horizontal bars, one per row, of parts stacked in order (the parts' names coloured alike in every row).
    static func stackedBars(title: String, unit: String, rows: [(label: String, parts: [(name: String, value: Double)])], kind: String) -> String {
        let names = rows.flatMap { $0.parts.map(\.name) }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let total = rows.map { $0.parts.reduce(0) { $0 + max(0, $1.value) } }.max() ?? 0
        guard total > 0 else {
            return "<figure class=\"plot\" data-plot=\"\(HTML.escape(kind))\"><figcaption>\(HTML.escape(title)): nothing recorded</figcaption></figure>"
        }
        let left = 150.0, width = 620.0, barH = 18.0, gap = 6.0, top = 28.0
        let ticks = Self.ticks(0, total), scale = (width - left - 20) / ticks.last!
        let height = top + Double(rows.count) * (barH + gap) + 28
        var out = ["<figure class=\"plot\" data-plot=\"\(HTML.escape(kind))\">",
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(f(width)) \(f(height))\" width=\"\(f(width))\" height=\"\(f(height))\" role=\"img\">",
                   "<title>\(HTML.escape(title))</title>", "<text x=\"\(f(left))\" y=\"16\" class=\"t\">\(HTML.escape(title))</text>"]
        for t in ticks {
            let x = f(left + t * scale)
            out.append("<line x1=\"\(x)\" x2=\"\(x)\" y1=\"\(f(top - 4))\" y2=\"\(f(height - 24))\" class=\"grid\"/>")
            out.append("<text x=\"\(x)\" y=\"\(f(height - 10))\" class=\"xt\">\(HTML.escape(Self.number(t) + " " + unit))</text>")
        }
        for (r, row) in rows.enumerated() {
            let y = top + Double(r) * (barH + gap)
            out.append("<text x=\"\(f(left - 6))\" y=\"\(f(y + barH - 5))\" class=\"yt\">\(HTML.escape(row.label))</text>")
            var x = left
            for part in row.parts where part.value > 0 {
                let w = part.value * scale, color = Self.color(names.firstIndex(of: part.name) ?? 0)
                out.append("<rect x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(max(w, 0.5)))\" height=\"\(f(barH))\" fill=\"\(color)\"><title>\(HTML.escape("\(row.label), \(part.name): \(Self.number(part.value)) \(unit)"))</title></rect>")
                x += w
            }
        }
        out.append("</svg>")
        out.append("<figcaption class=\"legend\">" + names.enumerated().map { i, n in
            "<span><i style=\"background:\(Self.color(i))\"></i>\(HTML.escape(n))</span>"
        }.joined(separator: " ") + "</figcaption></figure>")
        return out.joined(separator: "\n")
    }

    /// Round ticks (1, 2 or 5 times a power of ten) covering [a, b], first and last included.
    static func ticks(_ a: Double, _ b: Double, count: Int = 5) -> [Double] {
        let lo = min(a, b), hi = max(a, b) == lo ? lo + 1 : max(a, b)
        let raw = (hi - lo) / Double(count), magnitude = pow(10, (log10(raw)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        let first = (lo / step).rounded(.down) * step, last = (hi / step).rounded(.up) * step
        return stride(from: first, through: last + step / 2, by: step).map { abs($0) < step * 1e-9 ? 0 : $0 }
    }

    /// A figure as a person writes it: 4 significant digits, no trailing zeros.
    static func number(_ x: Double) -> String {
        guard x.isFinite else { return "-" }
        if x != 0 && (abs(x) < 1e-3 || abs(x) >= 1e6) { return String(format: "%.3g", x) }
        var s = String(format: "%.4g", x)
        if s.contains(".") && !s.contains("e") { while s.hasSuffix("0") { s.removeLast() }; if s.hasSuffix(".") { s.removeLast() } }
        return s
    }
}

private func f(_ x: Double) -> String { String(format: "%.1f", x) }
