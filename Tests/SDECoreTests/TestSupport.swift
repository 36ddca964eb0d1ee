import Foundation
import SDECore
import Tensors
import XCTest

/// Returns the sample mean and standard error of the mean of `values`.
func meanAndStandardError(_ values: [Double]) -> (mean: Double, standardError: Double) {
    let n = Double(values.count)
    let mean = values.reduce(0, +) / n
    let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
    return (mean, (variance / n).squareRoot())
}

/// Returns the least-squares slope of log(errors) against log(step sizes).
func logLogSlope(stepSizes: [Double], errors: [Double]) -> Double {
    let xs = stepSizes.map { Foundation.log($0) }
    let ys = errors.map { Foundation.log($0) }
    let n = Double(xs.count)
    let meanX = xs.reduce(0, +) / n
    let meanY = ys.reduce(0, +) / n
    var numerator = 0.0
    var denominator = 0.0
    for (x, y) in zip(xs, ys) {
        numerator += (x - meanX) * (y - meanY)
        denominator += (x - meanX) * (x - meanX)
    }
    return numerator / denominator
}

/// Returns a deterministic tensor with entries in [-1, 1).
func fixedTensor(_ shape: [Int], seed: UInt64 = 1) -> Tensor<Double> {
    var generator = PhiloxRandom(seed: seed, stream: 99)
    return Tensor.uniform(shape: shape, lower: -1, upper: 1, using: &generator)
}

func maxAbsoluteDifference(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
    zip(a.scalars, b.scalars).map { Swift.abs($0 - $1) }.max() ?? 0
}
