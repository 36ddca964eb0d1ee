import Foundation
import SDECore
import Tensors

/// Parallel-beam computed tomography: `y = A x + σ_y ξ`, where `A` is a discrete Radon
/// transform of each plane of `x` `[N, C, H, W]` at `angleCount` angles `θ_a = π a / angleCount`,
/// giving a sinogram `[N, C, angleCount, detectorCount]`.
///
/// Pixel (row `i`, column `j`) sits at `(u, v) = (j − (W−1)/2, (H−1)/2 − i)` and projects to
/// the detector coordinate `s = u cos θ + v sin θ`. Detector bins are 1 pixel wide and
/// centred, `s_k = k − (D−1)/2` with `D = detectorCount` large enough that every pixel
/// lands strictly inside. Each pixel's value is split between the two nearest bins by
/// linear interpolation (weights `1 − f` and `f` for `s` a fraction `f` past `s_k`), so
/// every projection preserves the image's total. The adjoint is the matching
/// back-projection: pixel `p` collects `(1 − f) y_k + f y_{k+1}` over the angles. Both
/// directions use the same precomputed bins and weights, so `⟨A x, y⟩ = ⟨x, Aᵀ y⟩` is
/// exact up to rounding. The projection runs bin by bin over a list of the pixels that
/// reach each bin, so each sum stays in a register. The projection matrix has about `2 · angleCount · H · W` non-zeros and is
/// never stored densely.
///
/// The pseudo-inverse is computed iteratively by CGLS (see `pseudoInverse`); there is no
/// singular value decomposition, whose dense factors would cost `O((H W)²)` memory.
public final class RadonTransformOperator<Scalar: TensorScalar>: GaussianObservationModel, LinearObservationModel {
    public let height: Int
    public let width: Int
    public let channels: Int
    public let angleCount: Int
    public let detectorCount: Int
    public let noise: GaussianNoise<Scalar>
    /// Iterations and relative tolerance of the CGLS pseudo-inverse.
    public var pseudoInverseIterations: Int
    public var pseudoInverseTolerance: Double

    /// For angle `a` and pixel `p`, the lower bin `k` at `[a · H W + p]`.
    private let bins: [Int32]
    /// The weight `f` of bin `k + 1` and the weight `1 − f` of bin `k`, rounded once to
    /// `Scalar` so that the projection and back-projection use identical weights.
    private let upperWeights: [Scalar]
    private let lowerWeights: [Scalar]
    /// The same weights listed by bin: entries `binStarts[a (D + 1) + k] ..< binStarts[a (D + 1) + k + 1]`
    /// of `binPixels` and `binWeights` are the pixels reaching bin `k` at angle `a` and their weights.
    private let binStarts: [Int32]
    private let binPixels: [Int32]
    private let binWeights: [Scalar]

    public init(
        height: Int, width: Int, channels: Int = 1, angleCount: Int, noiseStandardDeviation: Scalar,
        pseudoInverseIterations: Int = 200, pseudoInverseTolerance: Double = 1e-6
    ) {
        precondition(height >= 1 && width >= 1, "RadonTransformOperator: image \(height) × \(width) must not be empty")
        precondition(channels >= 1, "RadonTransformOperator: channels \(channels) must be at least 1")
        precondition(angleCount >= 1, "RadonTransformOperator: angleCount \(angleCount) must be at least 1")
        self.height = height
        self.width = width
        self.channels = channels
        self.angleCount = angleCount
        self.pseudoInverseIterations = pseudoInverseIterations
        self.pseudoInverseTolerance = pseudoInverseTolerance
        noise = GaussianNoise(standardDeviation: noiseStandardDeviation)

        // (D − 1)/2 ≥ r + ½ for the largest pixel radius r keeps every s strictly inside the bins.
        let centreRow = Double(height - 1) / 2
        let centreColumn = Double(width - 1) / 2
        let radius = (centreRow * centreRow + centreColumn * centreColumn).squareRoot()
        detectorCount = Int((2 * radius).rounded(.up)) + 2
        let detectorCentre = Double(detectorCount - 1) / 2

        var bins = [Int32](repeating: 0, count: angleCount * height * width)
        var upperWeights = [Double](repeating: 0, count: angleCount * height * width)
        for a in 0..<angleCount {
            let theta = Double.pi * Double(a) / Double(angleCount)
            let (cosine, sine) = (Foundation.cos(theta), Foundation.sin(theta))
            for i in 0..<height {
                for j in 0..<width {
                    let s = (Double(j) - centreColumn) * cosine + (centreRow - Double(i)) * sine
                    let position = s + detectorCentre
                    let k = Int(position.rounded(.down))
                    precondition(k >= 0 && k + 1 < detectorCount, "RadonTransformOperator: pixel (\(i), \(j)) falls off the detector")
                    bins[(a * height + i) * width + j] = Int32(k)
                    upperWeights[(a * height + i) * width + j] = position - Double(k)
                }
            }
        }
        let upperScalars = upperWeights.map { Scalar($0) }
        let lowerScalars = upperWeights.map { Scalar(1 - $0) }
        self.bins = bins
        self.upperWeights = upperScalars
        self.lowerWeights = lowerScalars

        // Group the two entries of every (angle, pixel) by bin, keeping pixel order within a bin.
        let pixels = height * width
        var starts = [Int32](repeating: 0, count: angleCount * (detectorCount + 1))
        for a in 0..<angleCount {
            var counts = [Int](repeating: 0, count: detectorCount)
            for p in 0..<pixels {
                let k = Int(bins[a * pixels + p])
                counts[k] += 1
                counts[k + 1] += 1
            }
            for k in 0..<detectorCount {
                starts[a * (detectorCount + 1) + k + 1] = starts[a * (detectorCount + 1) + k] + Int32(counts[k])
            }
        }
        var binPixels = [Int32](repeating: 0, count: 2 * angleCount * pixels)
        var binWeights = [Scalar](repeating: 0, count: 2 * angleCount * pixels)
        for a in 0..<angleCount {
            let rowStart = a * (detectorCount + 1)
            var next = (0..<detectorCount).map { [starts] k in Int(starts[rowStart + k]) + 2 * a * pixels }
            for p in 0..<pixels {
                let k = Int(bins[a * pixels + p])
                binPixels[next[k]] = Int32(p)
                binWeights[next[k]] = lowerScalars[a * pixels + p]
                next[k] += 1
                binPixels[next[k + 1]] = Int32(p)
                binWeights[next[k + 1]] = upperScalars[a * pixels + p]
                next[k + 1] += 1
            }
        }
        binStarts = starts
        self.binPixels = binPixels
        self.binWeights = binWeights
    }

    /// Applies the Radon transform, `[N, C, H, W]` → `[N, C, angleCount, detectorCount]`.
    public func project(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(
            x.rank == 4 && x.shape[1] == channels && x.shape[2] == height && x.shape[3] == width,
            "RadonTransformOperator: input of shape \(x.shape) must be [N, \(channels), \(height), \(width)]")
        return radonKernel(x, outputShape: [x.shape[0], channels, angleCount, detectorCount], adjoint: false)
    }

    /// Applies the back-projection `Aᵀ`, `[N, C, angleCount, detectorCount]` → `[N, C, H, W]`.
    public func adjoint(_ y: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(
            y.rank == 4 && y.shape[1] == channels && y.shape[2] == angleCount && y.shape[3] == detectorCount,
            "RadonTransformOperator: sinogram of shape \(y.shape) must be [N, \(channels), \(angleCount), \(detectorCount)]")
        return radonKernel(y, outputShape: [y.shape[0], channels, height, width], adjoint: true)
    }

    public func forward(_ x: Variable<Scalar>) -> Variable<Scalar> {
        linearVariable(x, apply: project)
    }

    /// `A⁺ y` by CGLS (conjugate gradients on `AᵀA x = Aᵀ y`) started from 0, which in exact
    /// arithmetic converges to the minimum-norm least-squares solution, the pseudo-inverse.
    ///
    /// NOTE: this is iterative. It stops after `pseudoInverseIterations` steps or once
    /// `‖Aᵀ(y − A x)‖ ≤ pseudoInverseTolerance · ‖Aᵀ y‖` for every batch element, so with few
    /// angles or many pixels it returns an approximation.
    public func pseudoInverse(_ y: Tensor<Scalar>) -> Tensor<Scalar> {
        conjugateGradientLeastSquares(
            y, apply: project, adjoint: adjoint,
            iterations: pseudoInverseIterations, relativeTolerance: pseudoInverseTolerance)
    }

    private func radonKernel(_ input: Tensor<Scalar>, outputShape: [Int], adjoint: Bool) -> Tensor<Scalar> {
        let planes = input.shape[0] * channels
        let geometry = RadonGeometry(pixels: height * width, angles: angleCount, detectors: detectorCount)
        let minimumChunk = Swift.max(1, (1 << 16) / Swift.max(bins.count, 1))
        return Tensor(shape: outputShape) { output in
            input.withUnsafeBufferPointer { source in
                let (x, y) = (source.baseAddress!, output.baseAddress!)
                if adjoint {
                    bins.withUnsafeBufferPointer { bins in
                        upperWeights.withUnsafeBufferPointer { upper in
                            lowerWeights.withUnsafeBufferPointer { lower in
                                let (k, up, low) = (bins.baseAddress!, upper.baseAddress!, lower.baseAddress!)
                                parallelChunks(planes, minimumChunk: minimumChunk) { range in
                                    if Scalar.self == Float.self {
                                        backProjectKernel(
                                            x.rebound(to: Float.self), y.rebound(to: Float.self), planes: range, k,
                                            (up.rebound(to: Float.self), low.rebound(to: Float.self)), geometry)
                                    } else {
                                        backProjectKernel(
                                            x.rebound(to: Double.self), y.rebound(to: Double.self), planes: range, k,
                                            (up.rebound(to: Double.self), low.rebound(to: Double.self)), geometry)
                                    }
                                }
                            }
                        }
                    }
                } else {
                    binStarts.withUnsafeBufferPointer { starts in
                        binPixels.withUnsafeBufferPointer { pixels in
                            binWeights.withUnsafeBufferPointer { weights in
                                let lists = (starts.baseAddress!, pixels.baseAddress!)
                                let w = weights.baseAddress!
                                parallelChunks(planes, minimumChunk: minimumChunk) { range in
                                    if Scalar.self == Float.self {
                                        projectKernel(
                                            x.rebound(to: Float.self), y.rebound(to: Float.self), planes: range, lists,
                                            w.rebound(to: Float.self), geometry)
                                    } else {
                                        projectKernel(
                                            x.rebound(to: Double.self), y.rebound(to: Double.self), planes: range, lists,
                                            w.rebound(to: Double.self), geometry)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The extents of a Radon transform's loops.
private struct RadonGeometry {
    let pixels: Int
    let angles: Int
    let detectors: Int
}

@inline(__always)
private func projectKernel<T: BinaryFloatingPoint>(
    _ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>, planes: Range<Int>,
    _ lists: (starts: UnsafePointer<Int32>, pixels: UnsafePointer<Int32>), _ weights: UnsafePointer<T>,
    _ geometry: RadonGeometry
) {
    let sinogram = geometry.angles * geometry.detectors
    for plane in planes {
        let image = input + plane * geometry.pixels
        let projection = output + plane * sinogram
        for a in 0..<geometry.angles {
            let starts = lists.starts + a * (geometry.detectors + 1)
            let base = 2 * a * geometry.pixels
            for k in 0..<geometry.detectors {
                var sum: T = 0
                for entry in (base + Int(starts[k]))..<(base + Int(starts[k + 1])) {
                    sum += weights[entry] * image[Int(lists.pixels[entry])]
                }
                projection[a * geometry.detectors + k] = sum
            }
        }
    }
}

@inline(__always)
private func backProjectKernel<T: BinaryFloatingPoint>(
    _ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>, planes: Range<Int>,
    _ bins: UnsafePointer<Int32>, _ weights: (upper: UnsafePointer<T>, lower: UnsafePointer<T>), _ geometry: RadonGeometry
) {
    let sinogram = geometry.angles * geometry.detectors
    for plane in planes {
        let projection = input + plane * sinogram
        let image = output + plane * geometry.pixels
        image.initialize(repeating: 0, count: geometry.pixels)
        for a in 0..<geometry.angles {
            let row = projection + a * geometry.detectors
            let offset = a * geometry.pixels
            let (k, upper, lower) = (bins + offset, weights.upper + offset, weights.lower + offset)
            for p in 0..<geometry.pixels {
                let bin = Int(k[p])
                image[p] += lower[p] * row[bin] + upper[p] * row[bin + 1]
            }
        }
    }
}
