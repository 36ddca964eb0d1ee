import Tensors

/// The pixel-wise coverage of equal-tailed posterior credible intervals at one level.
public struct CredibleIntervalCoverage: Sendable, Equatable {
    /// The nominal probability ℓ of each interval, in (0, 1).
    public var level: Double
    /// The fraction of pixels whose true value lies in its interval (ends included).
    public var coverage: Double
    /// The mean interval width, in the units of the images.
    public var meanWidth: Double
}

/// Measures, for each credible level ℓ in `levels`, how often the true pixel lies in the
/// equal-tailed interval `[q_{(1−ℓ)/2}, q_{(1+ℓ)/2}]` of the posterior samples at that pixel.
///
/// `samples` are `S ≥ 2` draws, each shaped like `truth` (any shape; every entry is a
/// pixel). Quantiles interpolate linearly between order statistics, `q_p = x₍ₖ₎ + f
/// (x₍ₖ₊₁₎ − x₍ₖ₎)` with `k + f = (S − 1) p` (NumPy's default "linear" method). A
/// calibrated posterior gives coverage near ℓ. With finitely many samples the expected
/// coverage of a new exchangeable draw is (j_upper − j_lower) / (S + 1) when both
/// quantiles fall on order statistics `j`, slightly below ℓ.
public func credibleIntervalCoverage<Scalar: TensorScalar>(
    samples: [Tensor<Scalar>], truth: Tensor<Scalar>, levels: [Double]
) -> [CredibleIntervalCoverage] {
    precondition(samples.count >= 2, "credibleIntervalCoverage: \(samples.count) samples; intervals need at least 2")
    for sample in samples {
        precondition(sample.shape == truth.shape, "credibleIntervalCoverage: sample of shape \(sample.shape) does not match truth \(truth.shape)")
    }
    for level in levels {
        precondition(level > 0 && level < 1, "credibleIntervalCoverage: level \(level) must lie in (0, 1)")
    }

    let values = samples.map(doubleScalars)
    let target = doubleScalars(truth)
    var covered = [Int](repeating: 0, count: levels.count)
    var widths = [Double](repeating: 0, count: levels.count)
    var pixelSamples = [Double](repeating: 0, count: samples.count)
    for pixel in target.indices {
        for s in values.indices { pixelSamples[s] = values[s][pixel] }
        pixelSamples.sort()
        for (index, level) in levels.enumerated() {
            let lower = linearQuantile(sorted: pixelSamples, probability: (1 - level) / 2)
            let upper = linearQuantile(sorted: pixelSamples, probability: (1 + level) / 2)
            if target[pixel] >= lower && target[pixel] <= upper { covered[index] += 1 }
            widths[index] += upper - lower
        }
    }

    let pixels = Double(target.count)
    return levels.indices.map { index in
        CredibleIntervalCoverage(level: levels[index], coverage: Double(covered[index]) / pixels, meanWidth: widths[index] / pixels)
    }
}

/// Returns the `probability` quantile of sorted values, interpolating linearly at position `(n − 1) p`.
func linearQuantile(sorted values: [Double], probability: Double) -> Double {
    let position = Double(values.count - 1) * probability
    let lower = Int(position.rounded(.down))
    let fraction = position - Double(lower)
    if lower + 1 >= values.count { return values[values.count - 1] }
    return values[lower] + fraction * (values[lower + 1] - values[lower])
}
