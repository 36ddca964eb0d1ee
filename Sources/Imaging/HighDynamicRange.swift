import SDECore
import Tensors

/// High-dynamic-range reconstruction: `y = clip(2x, −1, 1) + σ_y ξ`, a non-linear
/// observation that saturates every pixel with `|x| > ½`.
///
/// The clip is written as `2x − relu(2x − 1) + relu(−2x − 1)`, so its derivative is 2
/// where `|x| < ½` and 0 where `|x| > ½`. At the kinks `|x| = ½` it takes ReLU's
/// derivative at 0 for each term. Shapes are `[N, C, H, W]` in and out.
public final class HighDynamicRangeOperator<Scalar: TensorScalar>: GaussianObservationModel {
    public let noise: GaussianNoise<Scalar>

    public init(noiseStandardDeviation: Scalar) {
        noise = GaussianNoise(standardDeviation: noiseStandardDeviation)
    }

    public func forward(_ x: Variable<Scalar>) -> Variable<Scalar> {
        let doubled = x * Scalar(2)
        return doubled - relu(doubled - Scalar(1)) + relu(-doubled - Scalar(1))
    }
}
