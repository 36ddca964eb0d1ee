import SDECore
import Tensors

/// The exact noise predictor of Gaussian data N(m, S):
/// ε(x, t) = −√(1 − ᾱ_t) ∇ ln p_t(x) = √(1 − ᾱ_t) Σ_t⁻¹ (x − √ᾱ_t m), Σ_t = ᾱ_t S + (1 − ᾱ_t) I.
///
/// It replaces a pretrained ε-model in tests and examples. Times may differ per
/// sample: with S = V diag(λ) Vᵀ, Σ_t⁻¹ = V diag(1 / (ᾱ_t λ + 1 − ᾱ_t)) Vᵀ, so a batch
/// costs two products with V and one element-wise scaling, differentiable in x.
public final class GaussianNoisePredictor<Scalar: TensorScalar>: NoisePredictor {
    public let prior: MultivariateNormal
    /// Maps a model time t to ᾱ_t.
    public let alphaBar: @Sendable (Double) -> Double
    private let eigenvalues: [Double]
    private let eigenvectors: Tensor<Scalar>
    private let meanRow: Tensor<Scalar>

    /// Creates the predictor for the prior N(m, S) whose model time t has noise level
    /// `alphaBar(t)`.
    public init(prior: MultivariateNormal, alphaBar: @escaping @Sendable (Double) -> Double) {
        self.prior = prior
        self.alphaBar = alphaBar
        let eigen = try! prior.covariance.symmetricEigendecomposition()
        eigenvalues = eigen.values
        eigenvectors = eigen.vectors.tensor(Scalar.self)
        meanRow = Tensor(shape: [1, prior.dimension], scalars: prior.mean.map { Scalar($0) })
    }

    /// Creates the predictor for the VP SDE: t is the continuous time in [0, T].
    public convenience init(prior: MultivariateNormal, sde: VPSDE<Scalar>) {
        let (schedule, horizon) = (sde.schedule, sde.horizon)
        self.init(prior: prior, alphaBar: { VPSDE<Double>(schedule: schedule, horizon: horizon).alphaBar($0) })
    }

    /// Creates the predictor for a DDPM schedule with the `NoisePredictor` convention for
    /// discrete times: t = k ∈ {0, …, N − 1} has ᾱ = `schedule.alphaBars[k]`, which is
    /// ∏_{j ≤ k+1} (1 − β_j) in the 1-based notation of the DDPM paper.
    public convenience init(prior: MultivariateNormal, schedule: DDPMSchedule) {
        let alphaBars = schedule.alphaBars
        self.init(prior: prior, alphaBar: { t in
            let k = Int(t.rounded())
            precondition(
                k >= 0 && k < alphaBars.count && Swift.abs(t - Double(k)) < 1e-6,
                "GaussianNoisePredictor: DDPM time \(t) must be an integer step in 0..<\(alphaBars.count)")
            return alphaBars[k]
        })
    }

    public func predictNoise(_ x: Variable<Scalar>, at t: Tensor<Scalar>) -> Variable<Scalar> {
        let (batch, d) = (x.shape[0], x.shape[1])
        precondition(x.rank == 2 && d == prior.dimension, "GaussianNoisePredictor: x of shape \(x.shape) must be [N, \(prior.dimension)]")
        precondition(t.shape == [batch], "GaussianNoisePredictor: times of shape \(t.shape) must be [\(batch)]")

        let levels = t.scalars.map { alphaBar(Double($0)) }
        let signal = Tensor<Scalar>(shape: [batch, 1], scalars: levels.map { Scalar($0.squareRoot()) })
        var scales = [Scalar]()
        scales.reserveCapacity(batch * d)
        for level in levels {
            for lambda in eigenvalues {
                scales.append(Scalar((1 - level).squareRoot() / (level * lambda + 1 - level)))
            }
        }

        let centred = x - meanRow * signal
        let rotated = matmul(centred, Variable(eigenvectors))
        let scaled = rotated * Tensor(shape: [batch, d], scalars: scales)
        return matmul(scaled, Variable(eigenvectors), transposeB: true)
    }
}
