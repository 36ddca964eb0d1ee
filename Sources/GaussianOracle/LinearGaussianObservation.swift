import Foundation
import SDECore
import Tensors

/// The linear observation y = A x₀ + σ_y ξ with ξ ~ N(0, I), a dense k × d operator A
/// (k may differ from d) and σ_y > 0: the observation model of the Gaussian oracle.
///
/// It conforms to `LinearObservationModel`, so DEFT, the samplers and the control
/// objectives drive it exactly as they drive an image operator. It also supplies the
/// closed forms that involve y: the likelihood as a `GaussianTilt`, the evidence p(y)
/// and the h-transform as an affine function of both x and y, for amortised training.
public final class LinearGaussianObservation<Scalar: TensorScalar>: LinearObservationModel {
    /// A, k × d.
    public let operatorMatrix: Matrix
    /// σ_y, in Double for the closed forms.
    public let noiseStd: Double
    private let operatorTensor: Tensor<Scalar>
    private let pseudoInverseTensor: Tensor<Scalar>

    public init(operator a: Matrix, noiseStandardDeviation sigma: Double) {
        precondition(a.rows > 0 && a.columns > 0, "LinearGaussianObservation: operator \(a.rows) × \(a.columns) must be non-empty")
        precondition(sigma > 0 && sigma.isFinite, "LinearGaussianObservation: noise standard deviation \(sigma) must be positive")
        operatorMatrix = a
        noiseStd = sigma
        operatorTensor = a.tensor(Scalar.self)
        pseudoInverseTensor = Self.pseudoInverse(of: a).tensor(Scalar.self)
    }

    /// The observation dimension k.
    public var observationDimension: Int { operatorMatrix.rows }
    /// The signal dimension d.
    public var signalDimension: Int { operatorMatrix.columns }

    public var noiseStandardDeviation: Scalar { Scalar(noiseStd) }

    // MARK: - ObservationModel

    /// Returns A x for each row: `[N, d]` → `[N, k]`.
    public func forward(_ x: Variable<Scalar>) -> Variable<Scalar> {
        checkSignal(x.shape)
        return matmul(x, Variable(operatorTensor), transposeB: true)
    }

    /// Returns ln N(y; A x, σ² I) = −‖y − A x‖² / (2σ²) − (k/2) ln(2π σ²), shape `[N]`.
    public func logLikelihood(of y: Tensor<Scalar>, given x: Variable<Scalar>) -> Variable<Scalar> {
        checkObservation(y.shape, batch: x.shape[0])
        let residual = forward(x) - y
        let variance = noiseStd * noiseStd
        let constant = -0.5 * Double(observationDimension) * Foundation.log(2 * Double.pi * variance)
        let squared = (residual * residual).sum(alongAxes: [1]).reshaped(to: [x.shape[0]])
        return squared * Scalar(-0.5 / variance) + Scalar(constant)
    }

    /// Draws y = A x + σ ξ for each row of x.
    public func sample(given x: Tensor<Scalar>, using generator: inout PhiloxRandom) -> Tensor<Scalar> {
        checkSignal(x.shape)
        let noise = Tensor<Scalar>.normal(shape: [x.shape[0], observationDimension], using: &generator)
        return matmul(x, operatorTensor, transposeB: true) + noise * noiseStandardDeviation
    }

    // MARK: - LinearObservationModel

    /// Returns Aᵀ y for each row: `[N, k]` → `[N, d]`.
    public func adjoint(_ y: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(y.rank == 2 && y.shape[1] == observationDimension, "LinearGaussianObservation.adjoint: y of shape \(y.shape) must be [N, \(observationDimension)]")
        return matmul(y, operatorTensor)
    }

    /// Returns A⁺ y for each row, with the Moore–Penrose pseudo-inverse A⁺ = (Aᵀ A)⁺ Aᵀ.
    public func pseudoInverse(_ y: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(y.rank == 2 && y.shape[1] == observationDimension, "LinearGaussianObservation.pseudoInverse: y of shape \(y.shape) must be [N, \(observationDimension)]")
        return matmul(y, pseudoInverseTensor, transposeB: true)
    }

    /// Returns ∇ₓ ln p(y | x) = Aᵀ (y − A x) / σ² for each row, in closed form (the protocol's
    /// default differentiates `logLikelihood` instead).
    public func logLikelihoodGradientClosedForm(of y: Tensor<Scalar>, at x: Tensor<Scalar>) -> Tensor<Scalar> {
        checkSignal(x.shape)
        checkObservation(y.shape, batch: x.shape[0])
        let residual = y - matmul(x, operatorTensor, transposeB: true)
        return matmul(residual, operatorTensor) * Scalar(1 / (noiseStd * noiseStd))
    }

    // MARK: - Closed forms

    /// Returns the likelihood p(y | x₀) of one observation y as a weight on x₀.
    public func tilt(observation y: [Double]) -> GaussianTilt {
        GaussianTilt.linearObservation(operator: operatorMatrix, noiseStandardDeviation: noiseStd, observation: y)
    }

    /// Returns the evidence p(y) = N(y; A m, A S Aᵀ + σ² I) of the prior N(m, S).
    public func evidence(prior: MultivariateNormal) -> MultivariateNormal {
        let a = operatorMatrix
        let covariance = a * prior.covariance * a.transposed + Matrix(identity: observationDimension) * (noiseStd * noiseStd)
        return try! MultivariateNormal(mean: a * prior.mean, covariance: covariance)
    }

    /// Returns the predictive law p_t(y | x_t = x) = N(y; A μ_t(x), A C_t Aᵀ + σ² I) of `oracle`'s
    /// prior (its weight is not used).
    public func predictiveObservation(
        given x: [Double], alphaBar: Double, oracle: GaussianDiffusionOracle
    ) -> MultivariateNormal {
        let a = operatorMatrix
        let covariance = a * oracle.tweedieCovariance(alphaBar: alphaBar) * a.transposed
            + Matrix(identity: observationDimension) * (noiseStd * noiseStd)
        return try! MultivariateNormal(mean: a * oracle.tweedieMean(x, alphaBar: alphaBar), covariance: covariance)
    }

    /// Returns the h-transform of `oracle`'s prior as a function of both x and y, for amortised
    /// training and evaluation over observations:
    /// h*_t(x, y) = G (y − A μ_t(x)) with G = B_tᵀ Aᵀ (A C_t Aᵀ + σ² I)⁻¹, in score units.
    public func amortizedHTransform(alphaBar: Double, oracle: GaussianDiffusionOracle) -> AmortizedHTransform {
        let a = operatorMatrix
        let tweedie = oracle.tweedieMap(alphaBar: alphaBar)
        let predictiveCovariance = a * oracle.tweedieCovariance(alphaBar: alphaBar) * a.transposed
            + Matrix(identity: observationDimension) * (noiseStd * noiseStd)
        let projected = a * tweedie.weight
        let gain = (try! predictiveCovariance.solvePositiveDefinite(projected)).transposed
        return AmortizedHTransform(
            stateWeight: gain * projected * -1, observationWeight: gain,
            offset: scale(gain * (a * tweedie.offset), by: -1))
    }

    private func checkSignal(_ shape: [Int]) {
        precondition(shape.count == 2 && shape[1] == signalDimension, "LinearGaussianObservation: x of shape \(shape) must be [N, \(signalDimension)]")
    }

    private func checkObservation(_ shape: [Int], batch: Int) {
        precondition(
            shape == [batch, observationDimension],
            "LinearGaussianObservation: y of shape \(shape) must be [\(batch), \(observationDimension)]")
    }

    /// (Aᵀ A)⁺ Aᵀ, dropping eigenvalues of Aᵀ A below 1e-12 of the largest.
    private static func pseudoInverse(of a: Matrix) -> Matrix {
        let eigen = try! (a.transposed * a).symmetricEigendecomposition()
        let threshold = 1e-12 * Swift.max(eigen.values.last ?? 0, 0)
        return eigen.applying { $0 > threshold ? 1 / $0 : 0 } * a.transposed
    }
}

/// The h-transform as an affine function of a state and an observation,
/// h(x, y) = W_x x + W_y y + c, applied row-wise to batches.
public struct AmortizedHTransform: Sendable {
    /// W_x, d × d.
    public let stateWeight: Matrix
    /// W_y, d × k.
    public let observationWeight: Matrix
    /// c, of length d.
    public let offset: [Double]

    /// Returns h(x, y) for one state and observation.
    public func callAsFunction(_ x: [Double], _ y: [Double]) -> [Double] {
        add(add(stateWeight * x, observationWeight * y), offset)
    }

    /// Returns h(xᵢ, yᵢ) for each row: x `[N, d]`, y `[N, k]` → `[N, d]`.
    public func callAsFunction<Scalar: TensorScalar>(_ x: Tensor<Scalar>, _ y: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(x.rank == 2 && y.rank == 2 && x.shape[0] == y.shape[0], "AmortizedHTransform: x \(x.shape) and y \(y.shape) must be [N, d] and [N, k]")
        let fromState = matmul(x, stateWeight.tensor(Scalar.self), transposeB: true)
        let fromObservation = matmul(y, observationWeight.tensor(Scalar.self), transposeB: true)
        return fromState + fromObservation + Tensor(shape: [1, offset.count], scalars: offset.map { Scalar($0) })
    }
}
