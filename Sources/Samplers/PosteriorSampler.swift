import SDECore
import Tensors

/// A training-free method that draws reconstructions from `p(x₀ | y)` with a frozen
/// unconditional prior, given an observation model: the baselines DPS, ΠGDM, DDRM and
/// RED-diff that DEFT is compared against on the same prior and operators.
public protocol PosteriorSampler {
    /// The method's short name: "dps", "pigdm", "ddrm" or "reddiff".
    var name: String { get }
    /// Prior evaluations per `sample` call (forward passes; state separately in docs which need a VJP).
    var modelEvaluations: Int { get }
    /// Whether the method can run on this observation model (DDRM needs an SVD).
    func supports<Scalar: TensorScalar>(_ likelihood: any ObservationModel<Scalar>) -> Bool
    /// Returns one reconstruction per observation. y is [N, …obs] and initial is [N, …signal]
    /// (N(0, I) draws for the diffusion samplers), and the result is [N, …signal].
    func sample<Predictor: NoisePredictor>(
        _ predictor: Predictor, observation y: Tensor<Predictor.Scalar>,
        likelihood: any ObservationModel<Predictor.Scalar>, from initial: Tensor<Predictor.Scalar>,
        using generator: inout PhiloxRandom) throws -> Tensor<Predictor.Scalar>
}

/// A posterior sampler asked to run on an observation model it cannot use.
public struct PosteriorSamplerError: Error, CustomStringConvertible, Equatable {
    /// The method's short name, as `PosteriorSampler.name`.
    public let method: String
    /// The observation model's type, such as `RadonTransformOperator<Float>`.
    public let modelType: String
    public let message: String

    public var description: String { message }

    /// Returns the error for DDRM on a model without a singular value decomposition.
    static func needsSingularValues<Scalar: TensorScalar>(method: String, _ likelihood: any ObservationModel<Scalar>) -> Self {
        let type = String(describing: Swift.type(of: likelihood))
        let fix = likelihood is any LinearObservationModel<Scalar>
            ? "\(type) is linear: wrap it in DenseSingularValueObservation (signals of at most \(DenseSingularValueObservation<Scalar>.maximumSignalCount) entries)"
            : "\(type) is not linear, so no SVD exists: use DPS, ΠGDM or RED-diff"
        return PosteriorSamplerError(
            method: method, modelType: type, message: "\(method.uppercased()) needs a SingularValueObservationModel; \(fix)")
    }
}

extension PosteriorSampler {
    /// Checks that `y` and `initial` hold the same number of samples.
    func checkBatch<Scalar: TensorScalar>(_ y: Tensor<Scalar>, _ initial: Tensor<Scalar>) {
        precondition(
            y.rank >= 1 && initial.rank >= 1 && y.shape[0] == initial.shape[0],
            "\(name): observation of shape \(y.shape) and initial state of shape \(initial.shape) must share the batch size N on axis 0")
    }
}

/// Returns a `[N, 1, …, 1]` tensor of per-sample factors that broadcasts against a rank-`rank` batch.
func perSample<Scalar: TensorScalar>(_ values: [Double], rank: Int) -> Tensor<Scalar> {
    Tensor(shape: [values.count] + Array(repeating: 1, count: rank - 1), scalars: values.map { Scalar($0) })
}

/// Returns ‖x_b‖² for each batch element, `[N]`, as Doubles.
func perSampleSquaredNorms<Scalar: TensorScalar>(_ x: Tensor<Scalar>) -> [Double] {
    square(x).reshaped(to: [x.shape[0], -1]).sum(alongAxes: [1]).scalars.map { Double($0) }
}

/// Returns Tweedie's estimate `x̂₀ = (x − √(1 − ᾱ) ε) / √ᾱ` for one noise level shared by the batch.
func tweedieEstimate<Scalar: TensorScalar>(_ x: Variable<Scalar>, noise: Variable<Scalar>, alphaBar: Double) -> Variable<Scalar> {
    (x - noise * Scalar((1 - alphaBar).squareRoot())) * Scalar(1 / alphaBar.squareRoot())
}
