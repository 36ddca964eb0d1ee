import Foundation
import NeuralNetworks
import SDECore
import Tensors

/// A stochastic control objective together with the way its gradient is obtained.
public enum ControlObjective<Scalar: TensorScalar> {
    /// E[½ ∫ ‖u‖² dt − ln ℓ(X₀)] with gradients through the paths; see
    /// `ControlProblem.relativeEntropy` for the options.
    case relativeEntropy(gradient: GradientMethod, quadrature: RunningCostQuadrature? = nil, checkpointInterval: Int? = nil)
    /// Var[log dQ^u/dQ̃] on detached paths of the reference.
    case logVariance(reference: ReferenceProcess<Scalar> = .onPolicy)
    /// E[(k + log dQ^u/dQ̃ + ln Z)²] on detached paths, with a learned k.
    case trajectoryBalance(logNormalizer: any LogNormalizerModel<Scalar>, reference: ReferenceProcess<Scalar> = .onPolicy)

    /// A short name for logs: `relative-entropy`, `log-variance` or `trajectory-balance`.
    public var name: String {
        switch self {
        case .relativeEntropy: "relative-entropy"
        case .logVariance: "log-variance"
        case .trajectoryBalance: "trajectory-balance"
        }
    }
}

/// One optimisation step of `ControlTrainer`.
public struct ControlTrainingStep: Sendable {
    /// The step index, from 0.
    public var index: Int
    /// The objective's batch estimate before the update.
    public var loss: Double
    /// ‖∇_θ loss‖₂ over all trained parameters, before clipping.
    public var gradientNorm: Double
    public var learningRate: Double
    /// The wall-clock time of the step, in seconds.
    public var seconds: Double
}

/// Fits an h-transform to one observation (or amortised over observations) by Adam on a
/// stochastic control objective, drawing fresh paths at every step.
///
/// Step i uses the randomness `problem.randomness(batch:seed:)` with seed
/// `configuration.seed + i` and, when a context sampler is given, the context drawn from
/// the same seed, so a run is reproducible.
public final class ControlTrainer<Forward: StochasticDifferentialEquation, Model: HTransformModel>
where Model.Scalar == Forward.Scalar, Forward.Scalar: OptimizerScalar {
    public typealias Scalar = Forward.Scalar

    public struct Configuration {
        public var batchSize: Int
        /// The learning rate of the h-transform's parameters at each step.
        public var learningRate: any LearningRateSchedule
        /// The learning rate of trajectory balance's log-normaliser (often larger).
        public var logNormalizerLearningRate: any LearningRateSchedule
        /// Adam's decay rates of the first and second moments (β₁, β₂). A β₂ well below
        /// PyTorch's 0.999 keeps the steps near the learning rate as the gradients shrink
        /// by orders of magnitude while a control converges.
        public var adamBetas: (Double, Double)
        /// The largest global gradient norm, or nil for no clipping.
        public var maximumGradientNorm: Double?
        public var seed: UInt64
        public var memory: DetachedPathMemory

        public init(
            batchSize: Int = 256, learningRate: any LearningRateSchedule = ConstantLearningRate(1e-2),
            logNormalizerLearningRate: (any LearningRateSchedule)? = nil, adamBetas: (Double, Double) = (0.9, 0.99),
            maximumGradientNorm: Double? = nil,
            seed: UInt64 = 0, memory: DetachedPathMemory = .storedPath
        ) {
            precondition(batchSize >= 2, "ControlTrainer: batch size \(batchSize) must be at least 2")
            self.batchSize = batchSize
            self.learningRate = learningRate
            self.logNormalizerLearningRate = logNormalizerLearningRate ?? learningRate
            self.adamBetas = adamBetas
            self.maximumGradientNorm = maximumGradientNorm
            self.seed = seed
            self.memory = memory
        }
    }

    public let problem: ControlProblem<Forward>
    public let model: Model
    public let objective: ControlObjective<Scalar>
    public let configuration: Configuration
    /// Draws the context of a batch (for example observations yᵢ ~ p(y)) from a seed, for
    /// amortised training; nil for one observation.
    public let contextSampler: ((Int, UInt64) -> Tensor<Scalar>)?
    public private(set) var stepCount = 0

    private let modelOptimizer: Adam<Scalar>
    private let normalizerOptimizer: Adam<Scalar>?

    public init(
        problem: ControlProblem<Forward>, model: Model, objective: ControlObjective<Scalar>,
        configuration: Configuration = Configuration(), contextSampler: ((Int, UInt64) -> Tensor<Scalar>)? = nil
    ) {
        self.problem = problem
        self.model = model
        self.objective = objective
        self.configuration = configuration
        self.contextSampler = contextSampler
        let (beta1, beta2) = (Scalar(configuration.adamBetas.0), Scalar(configuration.adamBetas.1))
        modelOptimizer = Adam(parameters: model.parameters, beta1: beta1, beta2: beta2)
        if case .trajectoryBalance(let normalizer, _) = objective {
            normalizerOptimizer = Adam(parameters: normalizer.parameters, beta1: beta1, beta2: beta2)
        } else {
            normalizerOptimizer = nil
        }
    }

    /// Evaluates the objective on a fresh batch, updates the parameters and returns the step's figures.
    @discardableResult
    public func step() throws -> ControlTrainingStep {
        let started = Date()
        let seed = configuration.seed &+ UInt64(stepCount)
        let randomness = problem.randomness(batch: configuration.batchSize, seed: seed)
        let context = contextSampler?(configuration.batchSize, seed)

        let evaluation = try evaluate(randomness: randomness, context: context)
        let trained = model.parameters + (normalizerOptimizer?.parameters ?? [])
        precondition(evaluation.gradients.count == trained.count, "ControlTrainer: \(evaluation.gradients.count) gradients for \(trained.count) parameters")
        for (parameter, gradient) in zip(trained, evaluation.gradients) {
            parameter.grad = gradient
        }
        let norm = globalNorm(evaluation.gradients)
        if let maximum = configuration.maximumGradientNorm {
            clipGradientNorm(trained, maxNorm: Scalar(maximum))
        }

        let rate = configuration.learningRate.learningRate(atStep: stepCount)
        modelOptimizer.learningRate = Scalar(rate)
        modelOptimizer.step()
        if let normalizerOptimizer {
            normalizerOptimizer.learningRate = Scalar(configuration.logNormalizerLearningRate.learningRate(atStep: stepCount))
            normalizerOptimizer.step()
        }
        for parameter in trained {
            parameter.grad = nil
        }

        let record = ControlTrainingStep(
            index: stepCount, loss: evaluation.loss, gradientNorm: norm, learningRate: rate,
            seconds: Date().timeIntervalSince(started))
        stepCount += 1
        return record
    }

    /// Runs `steps` steps, calling `onStep` after each.
    public func train(steps: Int, onStep: (ControlTrainingStep) -> Void = { _ in }) throws {
        for _ in 0..<steps {
            onStep(try step())
        }
    }

    /// Evaluates the objective and its gradients on the given randomness without updating.
    public func evaluate(randomness: PathRandomness<Scalar>, context: Tensor<Scalar>? = nil) throws -> ControlLossEvaluation<Scalar> {
        switch objective {
        case let .relativeEntropy(gradient, quadrature, checkpointInterval):
            return try problem.relativeEntropy(
                model, randomness: randomness, gradient: gradient, quadrature: quadrature, context: context,
                checkpointInterval: checkpointInterval)
        case let .logVariance(reference):
            return try problem.logVariance(
                model, randomness: randomness, reference: reference, context: context, memory: configuration.memory)
        case let .trajectoryBalance(normalizer, reference):
            return try problem.trajectoryBalance(
                model, logNormalizer: normalizer, randomness: randomness, reference: reference, context: context,
                memory: configuration.memory)
        }
    }

    private func globalNorm(_ gradients: [Tensor<Scalar>]) -> Double {
        gradients.reduce(0.0) { $0 + Double(($1 * $1).sum()) }.squareRoot()
    }
}
