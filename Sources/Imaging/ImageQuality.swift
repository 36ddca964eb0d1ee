import Foundation
import Tensors

// Full-reference image quality on images in [0, 1]; map [−1, 1] data there first with
// `unitIntervalImages(fromSymmetric:)`. Both metrics are computed in Double and follow
// scikit-image 0.26's `peak_signal_noise_ratio` and `structural_similarity`.

/// Maps images from the data's [−1, 1] scale to [0, 1]: `(x + 1) / 2`, without clipping.
public func unitIntervalImages<Scalar: TensorScalar>(fromSymmetric images: Tensor<Scalar>) -> Tensor<Scalar> {
    (images + 1) * Scalar(0.5)
}

/// Returns the peak signal-to-noise ratio of each image of `images` `[N, C, H, W]` against
/// `reference`, in decibels: `10 log₁₀(dataRange² / MSE)` with the mean over all `C · H · W`
/// entries. Identical images give `+∞`.
public func peakSignalToNoiseRatio<Scalar: TensorScalar>(
    _ images: Tensor<Scalar>, reference: Tensor<Scalar>, dataRange: Double = 1
) -> [Double] {
    checkImagePair(images, reference, function: "peakSignalToNoiseRatio")
    let batch = images.shape[0]
    let length = images.scalarCount / batch
    let (test, truth) = (doubleScalars(images), doubleScalars(reference))
    return (0..<batch).map { b in
        var squaredError = 0.0
        for i in (b * length)..<((b + 1) * length) {
            squaredError += (test[i] - truth[i]) * (test[i] - truth[i])
        }
        return 10 * Foundation.log10(dataRange * dataRange / (squaredError / Double(length)))
    }
}

/// Returns the mean structural similarity (SSIM) of each image of `images` `[N, C, H, W]`
/// against `reference`, averaged over channels.
///
/// Local statistics use a normalised Gaussian window of standard deviation 1.5 truncated at
/// 3.5 standard deviations (11 × 11), applied separably with scipy's "reflect" border
/// (`d c b a | a b c d`), and population (not sample) covariances. With `C₁ = (0.01 L)²`,
/// `C₂ = (0.03 L)²` and `L = dataRange`, the SSIM map is
/// `(2 μ_x μ_y + C₁)(2 σ_xy + C₂) / ((μ_x² + μ_y² + C₁)(σ_x² + σ_y² + C₂))`. Its mean is
/// taken after cropping 5 pixels from every border. This is scikit-image's
/// `structural_similarity(…, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`.
/// Images must be at least 11 × 11, as scikit-image requires.
public func structuralSimilarity<Scalar: TensorScalar>(
    _ images: Tensor<Scalar>, reference: Tensor<Scalar>, dataRange: Double = 1
) -> [Double] {
    checkImagePair(images, reference, function: "structuralSimilarity")
    let (batch, channels, height, width) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
    let window = gaussianKernel(radius: ssimRadius, standardDeviation: 1.5)
    precondition(
        height >= window.count && width >= window.count,
        "structuralSimilarity: images of \(height) × \(width) are smaller than the \(window.count) × \(window.count) window")

    let (test, truth) = (doubleScalars(images), doubleScalars(reference))
    let plane = height * width
    return (0..<batch).map { b in
        var total = 0.0
        for c in 0..<channels {
            let offset = (b * channels + c) * plane
            total += planeSSIM(
                Array(test[offset..<(offset + plane)]), Array(truth[offset..<(offset + plane)]),
                height: height, width: width, window: window, dataRange: dataRange)
        }
        return total / Double(channels)
    }
}

/// The window radius of scikit-image's Gaussian SSIM: `Int(3.5 · 1.5 + 0.5)`.
private let ssimRadius = 5

private func planeSSIM(_ x: [Double], _ y: [Double], height: Int, width: Int, window: [Double], dataRange: Double) -> Double {
    func filter(_ image: [Double]) -> [Double] {
        gaussianFilterReflect(image, height: height, width: width, window: window)
    }

    let meanX = filter(x)
    let meanY = filter(y)
    let meanXX = filter(zip(x, x).map { $0 * $1 })
    let meanYY = filter(zip(y, y).map { $0 * $1 })
    let meanXY = filter(zip(x, y).map { $0 * $1 })

    let c1 = (0.01 * dataRange) * (0.01 * dataRange)
    let c2 = (0.03 * dataRange) * (0.03 * dataRange)
    var total = 0.0
    for i in ssimRadius..<(height - ssimRadius) {
        for j in ssimRadius..<(width - ssimRadius) {
            let k = i * width + j
            let (ux, uy) = (meanX[k], meanY[k])
            let varianceX = meanXX[k] - ux * ux
            let varianceY = meanYY[k] - uy * uy
            let covariance = meanXY[k] - ux * uy
            let numerator = (2 * ux * uy + c1) * (2 * covariance + c2)
            let denominator = (ux * ux + uy * uy + c1) * (varianceX + varianceY + c2)
            total += numerator / denominator
        }
    }
    return total / Double((height - 2 * ssimRadius) * (width - 2 * ssimRadius))
}

/// Correlates a row-major plane with `window` along columns, then rows, extending the
/// plane by half-sample symmetric reflection (scipy.ndimage's "reflect"): index −1 maps
/// to 0 and index `n` to `n − 1`. The window radius must not exceed the plane's size.
private func gaussianFilterReflect(_ image: [Double], height: Int, width: Int, window: [Double]) -> [Double] {
    let radius = window.count / 2
    func reflect(_ index: Int, _ length: Int) -> Int {
        if index < 0 { return -index - 1 }
        if index >= length { return 2 * length - index - 1 }
        return index
    }

    var rows = [Double](repeating: 0, count: image.count)
    for i in 0..<height {
        for j in 0..<width {
            var sum = 0.0
            for (t, weight) in window.enumerated() {
                sum += weight * image[i * width + reflect(j + t - radius, width)]
            }
            rows[i * width + j] = sum
        }
    }

    var result = [Double](repeating: 0, count: image.count)
    for i in 0..<height {
        for j in 0..<width {
            var sum = 0.0
            for (t, weight) in window.enumerated() {
                sum += weight * rows[reflect(i + t - radius, height) * width + j]
            }
            result[i * width + j] = sum
        }
    }
    return result
}

private func checkImagePair<Scalar: TensorScalar>(_ images: Tensor<Scalar>, _ reference: Tensor<Scalar>, function: String) {
    precondition(images.rank == 4, "\(function): images of shape \(images.shape) must be [N, C, H, W]")
    precondition(images.shape == reference.shape, "\(function): images \(images.shape) and reference \(reference.shape) differ in shape")
    precondition(images.shape[0] > 0, "\(function): the batch is empty")
}
