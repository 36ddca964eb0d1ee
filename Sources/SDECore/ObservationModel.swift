import Tensors

/// A likelihood `p(y | x₀)` of an observation `y` given a clean sample `x₀`.
///
/// Conditioning methods (DEFT's network input, DPS, ΠGDM, DDRM, RED-diff and the
/// control objectives' terminal cost) see observations only through this protocol, so
/// they run unchanged on the Gaussian oracle's linear observation and on image
/// operators. Batches come first: `x` is `[N, …]` and `y` is `[N, …]`.
public protocol ObservationModel<Scalar>: AnyObject {
    associatedtype Scalar: TensorScalar

    /// The noiseless forward map `A(x)`, differentiable in `x`.
    func forward(_ x: Variable<Scalar>) -> Variable<Scalar>

    /// `ln p(y | x)` for each batch element, shape `[N]`, differentiable in `x`.
    func logLikelihood(of y: Tensor<Scalar>, given x: Variable<Scalar>) -> Variable<Scalar>

    /// Draws `y ~ p(· | x)` for each batch element.
    func sample(given x: Tensor<Scalar>, using generator: inout PhiloxRandom) -> Tensor<Scalar>
}

extension ObservationModel {
    /// `∇ₓ ln p(y | x)` for each batch element, by one reverse-mode pass.
    public func logLikelihoodGradient(of y: Tensor<Scalar>, at x: Tensor<Scalar>) -> Tensor<Scalar> {
        let result = vectorJacobianProduct(at: [x], cotangent: Tensor(shape: [x.shape[0]], repeating: 1)) { inputs in
            logLikelihood(of: y, given: inputs[0])
        }
        return result.inputGradients[0]
    }
}

/// A linear observation `y = A x + σ_y ξ` with `ξ ~ N(0, I)`.
public protocol LinearObservationModel<Scalar>: ObservationModel {
    /// The noise standard deviation σ_y, in the units of `y`.
    var noiseStandardDeviation: Scalar { get }

    /// The adjoint `Aᵀ y`.
    func adjoint(_ y: Tensor<Scalar>) -> Tensor<Scalar>

    /// The Moore–Penrose pseudo-inverse `A⁺ y`.
    func pseudoInverse(_ y: Tensor<Scalar>) -> Tensor<Scalar>
}

/// A linear observation with a known singular value decomposition `A = U Σ Vᵀ`, which
/// DDRM works in. `Σ` is `[r]`, the singular values of one sample's operator; the maps
/// act on batches, with `x` in the signal space and `y` in the observation space.
public protocol SingularValueObservationModel<Scalar>: LinearObservationModel {
    var singularValues: Tensor<Scalar> { get }

    /// `Vᵀ x`, `[N, …]` → `[N, n]` with `n` the signal dimension.
    func applyVTranspose(_ x: Tensor<Scalar>) -> Tensor<Scalar>
    /// `V z`, `[N, n]` → `[N, …]`.
    func applyV(_ z: Tensor<Scalar>) -> Tensor<Scalar>
    /// `Uᵀ y`, `[N, …]` → `[N, r]`.
    func applyUTranspose(_ y: Tensor<Scalar>) -> Tensor<Scalar>
    /// `U z`, `[N, r]` → `[N, …]`.
    func applyU(_ z: Tensor<Scalar>) -> Tensor<Scalar>
}
