import NeuralNetworks
import Tensors

/// A learned log-normaliser k of trajectory balance: a scalar for one observation, or a
/// function k(y) of the context when the objective is amortised over observations.
///
/// `callAsFunction(batch:context:)` returns `[batch]`, differentiable in the parameters.
public protocol LogNormalizerModel<Scalar>: Module {
    associatedtype Scalar

    func callAsFunction(batch: Int, context: Tensor<Scalar>?) -> Variable<Scalar>
}

/// One learned scalar k, the same for every path.
public final class ScalarLogNormalizer<Scalar: TensorScalar>: LogNormalizerModel {
    public let value: Variable<Scalar>

    public init(initialValue: Double = 0) {
        value = Variable(Tensor(shape: [1], repeating: Scalar(initialValue)), requiresGrad: true)
    }

    public var namedParameters: [(name: String, parameter: Variable<Scalar>)] { [("value", value)] }

    public func callAsFunction(batch: Int, context: Tensor<Scalar>?) -> Variable<Scalar> {
        value + Variable(Tensor<Scalar>(zeros: [batch]))
    }
}

/// k(y) = c + bᵀ y − ½ yᵀ M y with M symmetric: the form of E[ln p_T(y | X_T)] for a linear
/// Gaussian observation of a Gaussian prior, whose log-likelihood is quadratic in y.
///
/// Parameters `constant` `[1]`, `linear` `[c]` and `curvature` `[c, c]` (used through its
/// symmetric part ½ (M + Mᵀ)), all starting at zero.
public final class QuadraticLogNormalizer<Scalar: TensorScalar>: LogNormalizerModel {
    public let contextDimension: Int
    public let constant: Variable<Scalar>
    public let linear: Variable<Scalar>
    public let curvature: Variable<Scalar>

    public init(contextDimension: Int) {
        precondition(contextDimension > 0, "QuadraticLogNormalizer: contextDimension \(contextDimension) must be positive")
        self.contextDimension = contextDimension
        constant = Variable(Tensor(zeros: [1]), requiresGrad: true)
        linear = Variable(Tensor(zeros: [contextDimension, 1]), requiresGrad: true)
        curvature = Variable(Tensor(zeros: [contextDimension, contextDimension]), requiresGrad: true)
    }

    public var namedParameters: [(name: String, parameter: Variable<Scalar>)] {
        [("constant", constant), ("linear", linear), ("curvature", curvature)]
    }

    public func callAsFunction(batch: Int, context: Tensor<Scalar>?) -> Variable<Scalar> {
        guard let context, context.shape == [batch, contextDimension] else {
            preconditionFailure("QuadraticLogNormalizer: the context must have shape [\(batch), \(contextDimension)], got \(context?.shape.description ?? "none")")
        }
        let y = Variable(context)
        let symmetric = (curvature + curvature.transposed(permutation: [1, 0])) * Scalar(0.5)
        let quadratic = (matmul(y, symmetric) * y).sum(alongAxes: [1]) * Scalar(-0.5)
        return (matmul(y, linear) + quadratic).reshaped(to: [batch]) + constant
    }
}

/// k(y) = MLP(y), for amortised trajectory balance with a general likelihood.
public final class MLPLogNormalizer<Scalar: TensorScalar>: LogNormalizerModel {
    public let network: MLP<Scalar>

    public init(contextDimension: Int, hiddenSizes: [Int] = [64, 64], using generator: inout PhiloxRandom) {
        precondition(contextDimension > 0, "MLPLogNormalizer: contextDimension \(contextDimension) must be positive")
        network = MLP(sizes: [contextDimension] + hiddenSizes + [1], outputInitialization: .zeros, using: &generator)
    }

    public var namedParameters: [(name: String, parameter: Variable<Scalar>)] {
        network.namedParameters(prefix: "network")
    }

    public func callAsFunction(batch: Int, context: Tensor<Scalar>?) -> Variable<Scalar> {
        guard let context, context.shape[0] == batch else {
            preconditionFailure("MLPLogNormalizer: needs one context row per path, got \(context?.shape.description ?? "none") for \(batch) paths")
        }
        return network(Variable(context)).reshaped(to: [batch])
    }
}
