import Foundation
import SDECore
import Tensors

/// Returns the DDPM loss E ‖ε(√ᾱ_k x₀ + √(1 − ᾱ_k) ε, k) − ε‖² per pixel of `predictor` on
/// `images`, separately for each step k of `steps`, with the noise ε drawn from stream
/// `seed.split(k)`.
///
/// On held-out images it compares priors (or a prior's trained and averaged parameters)
/// noise level by noise level, which the training loss, averaged over k, cannot.
public func denoisingLoss<Predictor: NoisePredictor>(
    of predictor: Predictor, schedule: DDPMSchedule, on images: Tensor<Predictor.Scalar>, atSteps steps: [Int],
    seed: UInt64, batchSize: Int = 100
) -> [Double] {
    typealias Scalar = Predictor.Scalar
    precondition(batchSize > 0, "denoisingLoss: batchSize \(batchSize) must be positive")
    let count = images.shape[0]
    return steps.map { k in
        precondition(k >= 0 && k < schedule.count, "denoisingLoss: step \(k) is outside 0..<\(schedule.count)")
        let alphaBar = schedule.alphaBars[k]
        var generator = PhiloxRandom(seed: seed).split(UInt64(k))
        let noise = Tensor<Scalar>.normal(shape: images.shape, using: &generator)
        let noised = images * Scalar(alphaBar.squareRoot()) + noise * Scalar((1 - alphaBar).squareRoot())

        var total = 0.0
        for start in stride(from: 0, to: count, by: batchSize) {
            let range = start..<Swift.min(start + batchSize, count)
            let predicted = predictor.predictNoise(
                noised.slice(alongAxis: 0, range), at: Tensor(shape: [range.count], repeating: Scalar(k)))
            let residual = predicted - noise.slice(alongAxis: 0, range)
            total += Double((residual * residual).sum())
        }
        return total / Double(images.scalarCount)
    }
}
