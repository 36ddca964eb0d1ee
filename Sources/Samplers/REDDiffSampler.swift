import Foundation
import SDECore
import Tensors

/// RED-diff (Mardani, Song, Kautz and Vahdat, ICLR 2024, "A variational perspective on solving
/// inverse problems with diffusion models"): the reconstruction μ is optimised by Adam
/// while t descends, each step on a fresh stochastic loss.
///
/// On the steps k = τ_S > … > τ₁ (every N/S-th step, 0-based, ending at 0), with
/// x_t = √ᾱ_k μ + √(1 − ᾱ_k) ε for a fresh ε ~ N(0, I) and λ_k = λ √(1 − ᾱ_k)/√ᾱ_k,
///
///     loss(μ) = v · mean_m[(y − A(μ))²] / 2 + λ_k · mean_n[sg(ε_θ(x_t, k) − ε) ⊙ μ],
///
/// where the means run over the m entries of one observation and the n entries of one
/// signal, and sg stops the gradient. So only A is differentiated, never the ε-network.
/// One Adam step (β₁ = 0.9, β₂ = 0.99, ε = 1e-8, no weight decay) follows each loss. μ
/// after the last step is the reconstruction.
///
/// This follows the official code (`algos/reddiff.py` in `NVlabs/RED-diff`) with its
/// `denoise_term_weight: "linear"`, `sigma_x0: 0` and `awd: True`. That code averages over the
/// whole batch. Adam is invariant to a constant factor on the gradient (up to its ε), so the
/// per-sample means here give the same steps. The observation weight v replaces the paper's
/// 1/σ_y², as in the code. Defaults: 1000 steps, λ = 0.25 and learning rate 0.1, the values
/// of the repository's `_configs/algo/reddiff.yaml` (its README example uses 0.5).
///
/// μ starts at A⁺y for a `LinearObservationModel`, as the official `initialize`. For a
/// nonlinear model it starts at `initial`.
/// NOTE: the official code calls `H_pinv` for every operator, which nonlinear models here
/// lack. The random start is this type's choice, because a zero start would make the
/// phase-retrieval gradient divide by zero.
///
/// One forward pass of the predictor per step, no VJP through it; one VJP through A.
public struct REDDiffSampler: PosteriorSampler {
    public let schedule: DDPMSchedule
    /// The steps τ in increasing order, 0-based indices into the schedule.
    public let timesteps: [Int]
    /// λ, the weight of the denoising regulariser.
    public let regularizationWeight: Double
    /// The Adam learning rate.
    public let learningRate: Double
    /// v, the weight of the observation loss.
    public let observationWeight: Double

    public init(
        schedule: DDPMSchedule, steps: Int? = nil, regularizationWeight: Double = 0.25, learningRate: Double = 0.1,
        observationWeight: Double = 1
    ) {
        let steps = steps ?? schedule.count
        precondition(
            steps >= 1 && steps <= schedule.count, "REDDiffSampler: steps \(steps) must lie in 1…\(schedule.count), the schedule's length")
        precondition(regularizationWeight >= 0, "REDDiffSampler: regularizationWeight \(regularizationWeight) must be non-negative")
        precondition(learningRate > 0, "REDDiffSampler: learningRate \(learningRate) must be positive")
        precondition(observationWeight >= 0, "REDDiffSampler: observationWeight \(observationWeight) must be non-negative")
        self.schedule = schedule
        let skip = schedule.count / steps
        timesteps = (0..<steps).map { $0 * skip }
        self.regularizationWeight = regularizationWeight
        self.learningRate = learningRate
        self.observationWeight = observationWeight
    }

    public var name: String { "reddiff" }
    /// S forward passes, no VJP through the predictor.
    public var modelEvaluations: Int { timesteps.count }

    /// True for every model: RED-diff needs only a differentiable `forward`.
    public func supports<Scalar: TensorScalar>(_ likelihood: any ObservationModel<Scalar>) -> Bool {
        true
    }

    public func sample<Predictor: NoisePredictor>(
        _ predictor: Predictor, observation y: Tensor<Predictor.Scalar>,
        likelihood: any ObservationModel<Predictor.Scalar>, from initial: Tensor<Predictor.Scalar>,
        using generator: inout PhiloxRandom
    ) throws -> Tensor<Predictor.Scalar> {
        typealias Scalar = Predictor.Scalar
        checkBatch(y, initial)
        let batch = initial.shape[0]
        let signalCount = Double(initial.scalarCount / batch)
        let observationCount = Double(y.scalarCount / batch)

        var mean = initial
        if let linear = likelihood as? any LinearObservationModel<Scalar> {
            mean = linear.pseudoInverse(y)
            precondition(
                mean.shape == initial.shape,
                "REDDiffSampler: A⁺y of shape \(mean.shape) does not match the initial state's shape \(initial.shape)")
        }
        var optimizer = ElementwiseAdam<Scalar>(shape: mean.shape, learningRate: learningRate)

        for k in timesteps.reversed() {
            let alphaBar = schedule.alphaBars[k]

            // The regulariser's gradient λ_k (ε_θ(x_t) − ε) / n, with no graph through the network.
            let epsilon = Tensor<Scalar>.normal(shape: mean.shape, using: &generator)
            let noisy = mean * Scalar(alphaBar.squareRoot()) + epsilon * Scalar((1 - alphaBar).squareRoot())
            let prediction = predictor.predictNoise(noisy, at: batchTimes(Double(k), batch: batch))
            let weight = regularizationWeight * ((1 - alphaBar) / alphaBar).squareRoot()
            let regularizerGradient = (prediction - epsilon) * Scalar(weight / signalCount)

            // The observation loss's gradient v J_Aᵀ (A(μ) − y) / m, by one VJP through A.
            let observationGradient = GradientRecording.withRecording {
                let state = Variable(mean, requiresGrad: true)
                let forward = likelihood.forward(state)
                let cotangent = (forward.value - y) * Scalar(observationWeight / observationCount)
                return gradients(of: forward, withRespectTo: [state], cotangent: cotangent)[0]
            }

            optimizer.step(&mean, gradient: observationGradient + regularizerGradient)
        }
        return mean
    }
}

/// Adam (Kingma and Ba, 2015) on one tensor, as `torch.optim.Adam` without weight decay:
/// m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², θ ← θ − lr · m̂ / (√v̂ + ε) with m̂ = m/(1 − β₁ᵗ)
/// and v̂ = v/(1 − β₂ᵗ).
struct ElementwiseAdam<Scalar: TensorScalar> {
    let learningRate: Double
    let beta1 = 0.9
    let beta2 = 0.99
    let epsilon = 1e-8
    private var firstMoment: Tensor<Scalar>
    private var secondMoment: Tensor<Scalar>
    private var stepCount = 0

    init(shape: [Int], learningRate: Double) {
        self.learningRate = learningRate
        firstMoment = Tensor(zeros: shape)
        secondMoment = Tensor(zeros: shape)
    }

    mutating func step(_ parameter: inout Tensor<Scalar>, gradient: Tensor<Scalar>) {
        stepCount += 1
        firstMoment = firstMoment * Scalar(beta1) + gradient * Scalar(1 - beta1)
        secondMoment = secondMoment * Scalar(beta2) + square(gradient) * Scalar(1 - beta2)
        let firstCorrection = 1 - Foundation.pow(beta1, Double(stepCount))
        let secondCorrection = 1 - Foundation.pow(beta2, Double(stepCount))
        let denominator = sqrt(secondMoment * Scalar(1 / secondCorrection)) + Scalar(epsilon)
        parameter = parameter - firstMoment / denominator * Scalar(learningRate / firstCorrection)
    }
}
