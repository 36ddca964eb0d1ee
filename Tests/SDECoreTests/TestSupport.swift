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

/// A deterministic stand-in for a Brownian path on a fixed grid: batch row n receives one
/// impulse in step n (ΔW = √h, or H = √(h/12) when `impulseInLevyArea`), every other
/// increment is zero. Without impulses (`impulses: false`) the path is identically zero.
///
/// For an SDE whose solver map is affine in the noise (linear drift, additive noise),
/// row n of the terminal state started from x0 = 0 is the response to a unit-variance
/// noise input in step n, so Var X_N is the sum of the squared responses.
final class ImpulseBrownianPath: BrownianPath {
    typealias Scalar = Double

    let grid: [Double]
    let impulses: Bool
    let impulseInLevyArea: Bool
    let shape: [Int]
    let levyArea = LevyArea.spaceTime

    init(grid: [Double], batch: Int? = nil, impulses: Bool = true, impulseInLevyArea: Bool = false) {
        self.grid = grid
        self.impulses = impulses
        self.impulseInLevyArea = impulseInLevyArea
        shape = [batch ?? grid.count - 1, 1]
    }

    var t0: Double { Swift.min(grid[0], grid[grid.count - 1]) }
    var t1: Double { Swift.max(grid[0], grid[grid.count - 1]) }

    func increment(from s: Double, to t: Double) -> BrownianIncrement<Double> {
        var dW = Tensor<Double>(zeros: shape)
        var levyArea = Tensor<Double>(zeros: shape)
        if impulses, let step = grid.firstIndex(of: s), step + 1 < grid.count, grid[step + 1] == t {
            let h = Swift.abs(t - s)
            if impulseInLevyArea {
                levyArea[step, 0] = (h / 12).squareRoot()
            } else {
                dW[step, 0] = h.squareRoot()
            }
        }
        return BrownianIncrement(dW: dW, spaceTimeLevyArea: levyArea)
    }
}
