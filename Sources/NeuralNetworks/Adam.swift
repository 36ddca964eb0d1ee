import Foundation
import Tensors

/// An optimiser that updates a fixed list of parameters from their `grad`.
public protocol Optimizer: AnyObject {
    associatedtype Scalar: TensorScalar

    /// The parameters, in the order they were given.
    var parameters: [Variable<Scalar>] { get }
    /// The learning rate of the next step; set it from a `LearningRateSchedule` between steps.
    var learningRate: Scalar { get set }
    /// The number of `step()` calls so far.
    var stepCount: Int { get }

    /// Updates every parameter that has a gradient, in place. Parameters whose `grad`
    /// is nil are skipped and keep their state.
    func step()
}

/// The per-parameter state of Adam and AdamW, in the order of the optimiser's parameters.
public struct AdamState<Scalar: TensorScalar> {
    /// How many updates each parameter has had; its bias corrections use this count.
    public var stepCounts: [Int]
    /// The first moments `m`, nil before a parameter's first update.
    public var firstMoments: [Tensor<Scalar>?]
    /// The second moments `v`, nil before a parameter's first update.
    public var secondMoments: [Tensor<Scalar>?]

    init(count: Int) {
        stepCounts = Array(repeating: 0, count: count)
        firstMoments = Array(repeating: nil, count: count)
        secondMoments = Array(repeating: nil, count: count)
    }

    /// Applies one update to every parameter with a gradient.
    ///
    /// `l2WeightDecay` is added to the gradient (Adam's `weight_decay`), while
    /// `decoupledWeightDecay` shrinks the parameter by `1 - lr λ` before the update
    /// (AdamW's `weight_decay`).
    mutating func update(
        _ parameters: [Variable<Scalar>], learningRate: Scalar, beta1: Scalar, beta2: Scalar, epsilon: Scalar,
        l2WeightDecay: Scalar, decoupledWeightDecay: Scalar
    ) where Scalar: OptimizerScalar {
        for (index, parameter) in parameters.enumerated() {
            guard let gradient = parameter.grad else { continue }
            precondition(
                gradient.shape == parameter.value.shape,
                "Adam: gradient of shape \(gradient.shape) does not match parameter \(index) of shape \(parameter.value.shape)")

            stepCounts[index] += 1
            let t = Scalar(stepCounts[index])
            let coefficients = AdamCoefficients(
                beta1: beta1, beta2: beta2, epsilon: epsilon,
                stepSize: learningRate / (1 - Scalar.pow(beta1, t)),
                secondMomentCorrection: (1 - Scalar.pow(beta2, t)).squareRoot(),
                gradientWeightDecay: l2WeightDecay,
                parameterDecayFactor: 1 - learningRate * decoupledWeightDecay)

            // Moving the moments out of the arrays keeps them uniquely referenced, so the
            // in-place writes below do not copy them.
            var m = firstMoments[index] ?? Tensor(zeros: gradient.shape)
            var v = secondMoments[index] ?? Tensor(zeros: gradient.shape)
            firstMoments[index] = nil
            secondMoments[index] = nil
            let count = gradient.scalarCount
            gradient.withUnsafeBufferPointer { g in
                parameter.value.withUnsafeMutableBufferPointer { theta in
                    m.withUnsafeMutableBufferPointer { mBuffer in
                        v.withUnsafeMutableBufferPointer { vBuffer in
                            Scalar.adamUpdate(
                                parameter: theta.baseAddress!, gradient: g.baseAddress!,
                                firstMoment: mBuffer.baseAddress!, secondMoment: vBuffer.baseAddress!,
                                count: count, coefficients: coefficients)
                        }
                    }
                }
            }
            firstMoments[index] = m
            secondMoments[index] = v
        }
    }
}

/// Adam (Kingma and Ba, 2015) with bias correction and an optional L2 penalty, matching
/// `torch.optim.Adam` (PyTorch 2.x, `amsgrad=False`):
///
///     g ← ∇θ + λ θ
///     m ← β₁ m + (1 - β₁) g,   v ← β₂ v + (1 - β₂) g²
///     θ ← θ - lr · (m / (1 - β₁ᵗ)) / (√(v / (1 - β₂ᵗ)) + ε)
///
/// where `t` counts this parameter's updates from 1. The L2 penalty λ goes through the
/// moments; for weight decay that does not, use `AdamW`.
public final class Adam<Scalar: OptimizerScalar>: Optimizer {
    public let parameters: [Variable<Scalar>]
    public var learningRate: Scalar
    public var beta1: Scalar
    public var beta2: Scalar
    public var epsilon: Scalar
    /// λ, the L2 penalty added to the gradient.
    public var weightDecay: Scalar
    public private(set) var stepCount = 0
    /// The moments and per-parameter step counts; assign a saved state to resume training.
    public var state: AdamState<Scalar> {
        get { storedState }
        set {
            validate(newValue)
            storedState = newValue
        }
    }
    // Stored without observers, so that `step()` mutates the moments in place.
    private var storedState: AdamState<Scalar>

    /// Creates an optimiser for `parameters` with PyTorch's defaults.
    ///
    /// - Parameters:
    ///   - learningRate: lr ≥ 0, default 1e-3.
    ///   - beta1: β₁ ∈ [0, 1), default 0.9.
    ///   - beta2: β₂ ∈ [0, 1), default 0.999.
    ///   - epsilon: ε > 0, default 1e-8.
    ///   - weightDecay: λ ≥ 0, default 0.
    public init(
        parameters: [Variable<Scalar>], learningRate: Scalar = 1e-3, beta1: Scalar = 0.9, beta2: Scalar = 0.999,
        epsilon: Scalar = 1e-8, weightDecay: Scalar = 0
    ) {
        validateAdamHyperparameters(
            learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay)
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        storedState = AdamState(count: parameters.count)
    }

    public func step() {
        storedState.update(
            parameters, learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
            l2WeightDecay: weightDecay, decoupledWeightDecay: 0)
        stepCount += 1
    }

    private func validate(_ state: AdamState<Scalar>) {
        precondition(
            state.stepCounts.count == parameters.count && state.firstMoments.count == parameters.count
                && state.secondMoments.count == parameters.count,
            "Adam: a state for \(state.stepCounts.count) parameters was assigned to an optimiser of \(parameters.count)")
    }
}

/// AdamW (Loshchilov and Hutter, 2019): Adam with decoupled weight decay, matching
/// `torch.optim.AdamW` (PyTorch 2.x, `amsgrad=False`):
///
///     θ ← θ (1 - lr λ)
///     m ← β₁ m + (1 - β₁) ∇θ,   v ← β₂ v + (1 - β₂) (∇θ)²
///     θ ← θ - lr · (m / (1 - β₁ᵗ)) / (√(v / (1 - β₂ᵗ)) + ε)
///
/// where `t` counts this parameter's updates from 1. The decay applies to every
/// parameter given, biases and normalisation scales included, as in PyTorch when all
/// parameters share one group. To exempt some, give them to a second optimiser with
/// `weightDecay: 0`.
public final class AdamW<Scalar: OptimizerScalar>: Optimizer {
    public let parameters: [Variable<Scalar>]
    public var learningRate: Scalar
    public var beta1: Scalar
    public var beta2: Scalar
    public var epsilon: Scalar
    /// λ, the decoupled decay rate: each step multiplies θ by `1 - lr λ`.
    public var weightDecay: Scalar
    public private(set) var stepCount = 0
    /// The moments and per-parameter step counts; assign a saved state to resume training.
    public var state: AdamState<Scalar> {
        get { storedState }
        set {
            validate(newValue)
            storedState = newValue
        }
    }
    // Stored without observers, so that `step()` mutates the moments in place.
    private var storedState: AdamState<Scalar>

    /// Creates an optimiser for `parameters` with PyTorch's defaults.
    ///
    /// - Parameters:
    ///   - learningRate: lr ≥ 0, default 1e-3.
    ///   - beta1: β₁ ∈ [0, 1), default 0.9.
    ///   - beta2: β₂ ∈ [0, 1), default 0.999.
    ///   - epsilon: ε > 0, default 1e-8.
    ///   - weightDecay: λ ≥ 0, default 0.01.
    public init(
        parameters: [Variable<Scalar>], learningRate: Scalar = 1e-3, beta1: Scalar = 0.9, beta2: Scalar = 0.999,
        epsilon: Scalar = 1e-8, weightDecay: Scalar = 0.01
    ) {
        validateAdamHyperparameters(
            learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay)
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        storedState = AdamState(count: parameters.count)
    }

    public func step() {
        storedState.update(
            parameters, learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
            l2WeightDecay: 0, decoupledWeightDecay: weightDecay)
        stepCount += 1
    }

    private func validate(_ state: AdamState<Scalar>) {
        precondition(
            state.stepCounts.count == parameters.count && state.firstMoments.count == parameters.count
                && state.secondMoments.count == parameters.count,
            "AdamW: a state for \(state.stepCounts.count) parameters was assigned to an optimiser of \(parameters.count)")
    }
}

private func validateAdamHyperparameters<Scalar: TensorScalar>(
    learningRate: Scalar, beta1: Scalar, beta2: Scalar, epsilon: Scalar, weightDecay: Scalar
) {
    precondition(learningRate >= 0, "Adam: learningRate \(learningRate) must be non-negative")
    precondition(beta1 >= 0 && beta1 < 1, "Adam: beta1 \(beta1) must lie in [0, 1)")
    precondition(beta2 >= 0 && beta2 < 1, "Adam: beta2 \(beta2) must lie in [0, 1)")
    precondition(epsilon > 0, "Adam: epsilon \(epsilon) must be positive")
    precondition(weightDecay >= 0, "Adam: weightDecay \(weightDecay) must be non-negative")
}
