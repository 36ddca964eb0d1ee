import Foundation

/// A minimal SVG line plot: several series of (x, y) points on linear or logarithmic
/// axes, with ticks, axis labels and a legend, for figures in the Markdown notebooks.
struct SVGLinePlot {
    enum Style {
        /// Points joined by a line.
        case line
        /// Points only, as circles.
        case markers
        /// A dashed line, for reference curves.
        case dashed
    }

    struct Series {
        var label: String
        var points: [(x: Double, y: Double)]
        var style: Style = .line
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var logarithmicX = false
    var logarithmicY = false
    var series: [Series] = []

    private let width = 860.0
    private let height = 400.0
    // The legend sits in the right margin, outside the data.
    private let margin = (left: 80.0, right: 240.0, top: 40.0, bottom: 60.0)
    private let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]

    init(title: String, xLabel: String, yLabel: String, logarithmicX: Bool = false, logarithmicY: Bool = false) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.logarithmicX = logarithmicX
        self.logarithmicY = logarithmicY
    }

    /// Returns the SVG document.
    func render() -> String {
        let plotted = series.map { entry in
            Series(label: entry.label, points: entry.points.filter { isDrawable($0) }, style: entry.style)
        }
        let all = plotted.flatMap(\.points)
        precondition(!all.isEmpty, "SVGLinePlot: no finite points to draw in '\(title)'")
        let xRange = paddedRange(all.map { transform($0.x, logarithmic: logarithmicX) })
        let yRange = paddedRange(all.map { transform($0.y, logarithmic: logarithmicY) })
        let plotWidth = width - margin.left - margin.right
        let plotHeight = height - margin.top - margin.bottom

        func position(_ point: (x: Double, y: Double)) -> (Double, Double) {
            let u = (transform(point.x, logarithmic: logarithmicX) - xRange.lowerBound) / (xRange.upperBound - xRange.lowerBound)
            let v = (transform(point.y, logarithmic: logarithmicY) - yRange.lowerBound) / (yRange.upperBound - yRange.lowerBound)
            return (margin.left + u * plotWidth, margin.top + (1 - v) * plotHeight)
        }

        var body = ""
        body += "<rect x=\"\(margin.left)\" y=\"\(margin.top)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\" fill=\"white\" stroke=\"#444\"/>\n"

        // Ticks and grid lines.
        for tick in ticks(xRange, logarithmic: logarithmicX) {
            let (x, _) = position((tick, logarithmicY ? Foundation.pow(10, yRange.lowerBound) : yRange.lowerBound))
            body += "<line x1=\"\(format(x))\" y1=\"\(margin.top)\" x2=\"\(format(x))\" y2=\"\(margin.top + plotHeight)\" stroke=\"#ddd\"/>\n"
            body += "<text x=\"\(format(x))\" y=\"\(margin.top + plotHeight + 18)\" font-size=\"12\" text-anchor=\"middle\">\(label(tick))</text>\n"
        }
        for tick in ticks(yRange, logarithmic: logarithmicY) {
            let (_, y) = position((logarithmicX ? Foundation.pow(10, xRange.lowerBound) : xRange.lowerBound, tick))
            body += "<line x1=\"\(margin.left)\" y1=\"\(format(y))\" x2=\"\(margin.left + plotWidth)\" y2=\"\(format(y))\" stroke=\"#ddd\"/>\n"
            body += "<text x=\"\(margin.left - 6)\" y=\"\(format(y + 4))\" font-size=\"12\" text-anchor=\"end\">\(label(tick))</text>\n"
        }

        // Series, then the legend.
        for (index, entry) in plotted.enumerated() where !entry.points.isEmpty {
            let colour = colours[index % colours.count]
            let coordinates = entry.points.map(position)
            switch entry.style {
            case .line, .dashed:
                let path = coordinates.map { "\(format($0.0)),\(format($0.1))" }.joined(separator: " ")
                let dash = entry.style == .dashed ? " stroke-dasharray=\"6,4\"" : ""
                body += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"\(dash)/>\n"
            case .markers:
                for (x, y) in coordinates {
                    body += "<circle cx=\"\(format(x))\" cy=\"\(format(y))\" r=\"4\" fill=\"\(colour)\"/>\n"
                }
            }
            let legendX = margin.left + plotWidth + 12
            let legendY = margin.top + 12 + Double(index) * 18
            body += "<rect x=\"\(format(legendX))\" y=\"\(format(legendY - 6))\" width=\"14\" height=\"4\" fill=\"\(colour)\"/>\n"
            body += "<text x=\"\(format(legendX + 20))\" y=\"\(format(legendY))\" font-size=\"12\">\(escape(entry.label))</text>\n"
        }

        let header = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\">\n"
        let titles = "<text x=\"\(width / 2)\" y=\"24\" font-size=\"15\" text-anchor=\"middle\">\(escape(title))</text>\n"
            + "<text x=\"\(margin.left + plotWidth / 2)\" y=\"\(height - 14)\" font-size=\"13\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
            + "<text x=\"18\" y=\"\(margin.top + plotHeight / 2)\" font-size=\"13\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(margin.top + plotHeight / 2))\">\(escape(yLabel))</text>\n"
        return header + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n" + body + titles + "</svg>\n"
    }

    private func isDrawable(_ point: (x: Double, y: Double)) -> Bool {
        point.x.isFinite && point.y.isFinite && (!logarithmicX || point.x > 0) && (!logarithmicY || point.y > 0)
    }

    private func transform(_ value: Double, logarithmic: Bool) -> Double {
        logarithmic ? Foundation.log10(value) : value
    }

    /// Returns the data range widened by 5 % on each side, or by 1 when it is a single value.
    private func paddedRange(_ values: [Double]) -> ClosedRange<Double> {
        let (low, high) = (values.min()!, values.max()!)
        let pad = high > low ? 0.05 * (high - low) : 1
        return (low - pad)...(high + pad)
    }

    /// Returns tick values in data units: powers of ten on a log axis, else about 6 round steps.
    private func ticks(_ range: ClosedRange<Double>, logarithmic: Bool) -> [Double] {
        if logarithmic {
            let low = Int(range.lowerBound.rounded(.up))
            let high = Int(range.upperBound.rounded(.down))
            return low <= high ? (low...high).map { Foundation.pow(10, Double($0)) } : []
        }
        let rough = (range.upperBound - range.lowerBound) / 6
        let magnitude = Foundation.pow(10, Foundation.floor(Foundation.log10(rough)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        var tick = (range.lowerBound / step).rounded(.up) * step
        var result: [Double] = []
        while tick <= range.upperBound {
            result.append(Swift.abs(tick) < 1e-12 * step ? 0 : tick)
            tick += step
        }
        return result
    }

    private func label(_ value: Double) -> String {
        let magnitude = Swift.abs(value)
        if magnitude != 0 && (magnitude < 1e-3 || magnitude >= 1e4) {
            return String(format: "%.0e", value)
        }
        return String(format: "%g", value)
    }

    private func format(_ value: Double) -> String {
        String(format: "%.1f", value)
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
