import SDECore
import Tensors

/// An observation `y = A(x) + σ_y ξ` of images with Gaussian noise, the form every image
/// operator in this module has.
///
/// The extension supplies `logLikelihood` and `sample` from `forward` and `noise` (see
/// `GaussianNoise` for the likelihood and its σ_y = 0 convention). By default every
/// entry of `y` is a measurement and the residual is `y − A(x)`; inpainting overrides both.
public protocol GaussianObservationModel<Scalar>: ObservationModel {
    /// The measurement noise σ_y, in the units of the images ([−1, 1] data).
    var noise: GaussianNoise<Scalar> { get }

    /// Returns the number `m` of measured entries of each observation in a batch of shape `observationShape`.
    func measurementCounts(observationShape: [Int]) -> [Int]

    /// `y − A(x)` on the measured entries, `[N, …]` shaped like `y`.
    func residual(of y: Tensor<Scalar>, given x: Variable<Scalar>) -> Variable<Scalar>
}

extension GaussianObservationModel {
    /// σ_y, the requirement of `LinearObservationModel`.
    public var noiseStandardDeviation: Scalar { noise.standardDeviation }

    public func measurementCounts(observationShape: [Int]) -> [Int] {
        Array(repeating: observationShape.dropFirst().reduce(1, *), count: observationShape[0])
    }

    public func residual(of y: Tensor<Scalar>, given x: Variable<Scalar>) -> Variable<Scalar> {
        let prediction = forward(x)
        precondition(y.shape == prediction.shape, "residual: observation of shape \(y.shape) does not match A(x) of shape \(prediction.shape)")
        return Variable(y) - prediction
    }

    /// `ln p(y | x)` per batch element, `[N]`; see `GaussianNoise.logLikelihood`.
    public func logLikelihood(of y: Tensor<Scalar>, given x: Variable<Scalar>) -> Variable<Scalar> {
        noise.logLikelihood(residual: residual(of: y, given: x), measurementCounts: measurementCounts(observationShape: y.shape))
    }

    /// Draws `y = A(x) + σ_y ξ`.
    public func sample(given x: Tensor<Scalar>, using generator: inout PhiloxRandom) -> Tensor<Scalar> {
        let clean = withoutRecording { forward(Variable(x)).value }
        return noise.perturb(clean, using: &generator)
    }
}

extension LinearObservationModel {
    /// Wraps a linear map and its adjoint as a differentiable operation: the pullback of
    /// `x ↦ A x` is `dy ↦ Aᵀ dy`.
    func linearVariable(_ x: Variable<Scalar>, apply: (Tensor<Scalar>) -> Tensor<Scalar>) -> Variable<Scalar> {
        Variable(value: apply(x.value), parents: [x]) { [self] dy in [adjoint(dy)] }
    }
}
