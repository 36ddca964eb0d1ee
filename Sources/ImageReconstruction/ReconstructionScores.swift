import Foundation
import Imaging
import SDECore
import Tensors

/// The per-image scores of a batch of reconstructions against the ground truth.
///
/// Every score is computed on the reconstruction clipped to the data's range [−1, 1]:
///
/// - PSNR and SSIM on images mapped to [0, 1] (`peakSignalToNoiseRatio`,
///   `structuralSimilarity`, data range 1);
/// - top-1: whether the shipped classifier's label of the reconstruction is the true label;
/// - data consistency: `‖y − A(x̂)‖ / (σ_y √m)` over the m measured entries of y, the RMS of
///   the residual in units of the noise. A reconstruction that fits y as well as the true
///   image does scores about 1; below 1 it fits the noise, above 1 it disagrees with y.
public struct ReconstructionScores: Sendable {
    public var psnr: [Double] = []
    public var ssim: [Double] = []
    public var correctLabels: [Bool] = []
    public var dataConsistency: [Double] = []

    public init() {}

    /// The number of images scored.
    public var count: Int { psnr.count }

    /// Scores `reconstructions` `[N, 1, H, W]` against `truth` and the observations `y`
    /// they were made from, and appends the N results.
    public mutating func append(
        reconstructions: Tensor<Float>, truth: Tensor<Float>, labels: [Int], observation y: Tensor<Float>,
        likelihood: any GaussianObservationModel<Float>, classifier: FashionClassifier<Float>
    ) {
        precondition(
            reconstructions.shape == truth.shape,
            "ReconstructionScores: reconstructions of shape \(reconstructions.shape) must match the truth's \(truth.shape)")
        precondition(
            labels.count == truth.shape[0] && y.shape[0] == truth.shape[0],
            "ReconstructionScores: \(labels.count) labels and \(y.shape[0]) observations for \(truth.shape[0]) images")

        let clipped = clippedToDataRange(reconstructions)
        let (test, reference) = (unitIntervalImages(fromSymmetric: clipped), unitIntervalImages(fromSymmetric: truth))
        psnr += peakSignalToNoiseRatio(test, reference: reference)
        ssim += structuralSimilarity(test, reference: reference)
        correctLabels += zip(classifier.predictedClasses(clipped), labels).map { $0 == $1 }
        dataConsistency += Self.dataConsistency(of: clipped, observation: y, likelihood: likelihood)
    }

    /// Appends the scores of other images after these.
    public mutating func append(_ other: ReconstructionScores) {
        psnr += other.psnr
        ssim += other.ssim
        correctLabels += other.correctLabels
        dataConsistency += other.dataConsistency
    }

    /// Returns `‖y − A(x)‖ / (σ_y √m)` for each image, over the m measured entries of y.
    ///
    /// With σ_y = 0 the score is the plain RMS of the residual, in the units of y.
    public static func dataConsistency(
        of x: Tensor<Float>, observation y: Tensor<Float>, likelihood: any GaussianObservationModel<Float>
    ) -> [Double] {
        let residual = withoutRecording { likelihood.residual(of: y, given: Variable(x)).value }
        let batch = residual.shape[0]
        let squaredNorms = square(residual).reshaped(to: [batch, -1]).sum(alongAxes: [1]).scalars.map { Double($0) }
        let counts = likelihood.measurementCounts(observationShape: y.shape)
        let sigma = Double(likelihood.noise.standardDeviation)
        return zip(squaredNorms, counts).map { squaredNorm, count in
            (squaredNorm / Double(count)).squareRoot() / (sigma > 0 ? sigma : 1)
        }
    }

    /// The means over the images scored so far, with top-1 as a fraction in [0, 1].
    public var means: (psnr: Double, ssim: Double, top1: Double, dataConsistency: Double) {
        precondition(count > 0, "ReconstructionScores: no images were scored")
        func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }
        let top1 = Double(correctLabels.filter { $0 }.count) / Double(correctLabels.count)
        return (mean(psnr), mean(ssim), top1, mean(dataConsistency))
    }
}

/// Returns the images with every pixel clipped to [−1, 1], the data's range.
public func clippedToDataRange(_ images: Tensor<Float>) -> Tensor<Float> {
    images.applying(.maximum, Tensor(shape: [1], repeating: -1)).applying(.minimum, Tensor(shape: [1], repeating: 1))
}
