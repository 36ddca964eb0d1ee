import Foundation

/// The results of `deft gaussian` for one problem file, encoded as JSON with snake-case
/// keys in sorted order: `posterior_mean`, `posterior_covariance`, `log_evidence`,
/// `queries`, and with `--method dsm` also `sample_mean`, `sample_covariance`,
/// `w2_to_posterior` and `h_relative_error`.
public struct GaussianProblemReport: Codable, Equatable {
    /// One query's exact values, in score units.
    public struct Query: Codable, Equatable {
        public var t: Double
        public var alphaBar: Double
        public var x: [Double]
        /// ∇ₓ ln p_t(x).
        public var score: [Double]
        /// h*_t(x) = ∇ₓ ln p_t(y | x).
        public var h: [Double]
        /// The learned h^φ converted to score units, h^φ / (−√(1 − ᾱ)), with `--method dsm`
        /// at times where the network is defined.
        public var hLearned: [Double]?
    }

    public var posteriorMean: [Double]
    public var posteriorCovariance: [[Double]]
    /// ln p(y).
    public var logEvidence: Double
    public var queries: [Query]

    public var method: String
    public var sampleMean: [Double]?
    public var sampleCovariance: [[Double]]?
    /// W2 between the Gaussian fitted to the samples and the posterior.
    public var w2ToPosterior: Double?
    /// The relative L2 error of h^φ against −√(1 − ᾱ) h* over times and (x₀, y) ~ p(x₀, y).
    public var hRelativeError: Double?

    /// Computes the exact results for `problem` at the given queries (see
    /// `GaussianProblem.parseQuery`).
    public init(exact problem: GaussianProblem, queries: [(t: Double, alphaBar: Double, x: [Double])]) {
        let oracle = problem.oracle
        let posterior = oracle.target
        posteriorMean = posterior.mean
        posteriorCovariance = posterior.covariance.rowArrays
        logEvidence = oracle.logNormalizer
        self.queries = queries.map { query in
            Query(
                t: query.t, alphaBar: query.alphaBar, x: query.x, score: oracle.score(query.x, alphaBar: query.alphaBar),
                h: oracle.hTransform(query.x, alphaBar: query.alphaBar), hLearned: nil)
        }
        method = "exact"
    }

    /// Returns the report as pretty-printed JSON with sorted keys.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(self)
    }

    /// A plain-text summary for the terminal.
    public var text: String {
        func format(_ values: [Double]) -> String {
            "[" + values.map { String(format: "%.6g", $0) }.joined(separator: ", ") + "]"
        }
        var lines = [
            "method: \(method)",
            "posterior mean: \(format(posteriorMean))",
            "posterior covariance:",
        ]
        lines += posteriorCovariance.map { "  " + format($0) }
        lines.append("log evidence ln p(y): \(String(format: "%.10g", logEvidence))")
        for query in queries {
            lines.append("query t = \(query.t) (ᾱ = \(String(format: "%.6g", query.alphaBar))), x = \(format(query.x))")
            lines.append("  score ∇ ln p_t(x):        \(format(query.score))")
            lines.append("  h*(x) = ∇ ln p_t(y | x):  \(format(query.h))")
            if let learned = query.hLearned {
                lines.append("  learned h^φ (score units): \(format(learned))")
            }
        }
        if let sampleMean, let sampleCovariance, let w2ToPosterior, let hRelativeError {
            lines.append("sample mean: \(format(sampleMean))")
            lines.append("sample covariance:")
            lines += sampleCovariance.map { "  " + format($0) }
            lines.append("W2(fitted Gaussian, posterior): \(String(format: "%.4g", w2ToPosterior))")
            lines.append("relative L2 error of h^φ: \(String(format: "%.4g", hRelativeError))")
        }
        return lines.joined(separator: "\n")
    }
}
