import SDECore
import Tensors

/// The terminal cost −ln ℓ(x₀) of the stochastic control problem, through its log-weight
/// ln ℓ: the log-likelihood ln p(y | x₀) of an observation, or a reward r(x₀) whose
/// tilted law π ∝ exp(r) p_data is the target.
///
/// `logWeight(x₀, context:)` maps `[batch, d]` to `[batch]` and is differentiable in x₀.
/// For an amortised likelihood the context row i is the observation yᵢ of sample i.
public struct TerminalCost<Scalar: TensorScalar> {
    private let function: (Variable<Scalar>, Tensor<Scalar>?) -> Variable<Scalar>

    /// Creates a cost from its log-weight ln ℓ(x₀, context), `[batch, d]` → `[batch]`.
    public init(logWeight: @escaping (Variable<Scalar>, Tensor<Scalar>?) -> Variable<Scalar>) {
        function = logWeight
    }

    /// The likelihood of one observation `y`, of shape `[k]` or `[1, k]`: ln ℓ = ln p(y | x₀).
    public static func likelihood<Model: ObservationModel>(_ model: Model, observation y: Tensor<Scalar>) -> TerminalCost
    where Model.Scalar == Scalar {
        let row = y.rank == 1 ? y.reshaped(to: [1, y.shape[0]]) : y
        precondition(row.rank == 2 && row.shape[0] == 1, "TerminalCost.likelihood: the observation of shape \(y.shape) must be [k] or [1, k]")
        return TerminalCost { x, _ in
            let observations = Tensor<Scalar>(zeros: [x.shape[0], row.shape[1]]) + row
            return model.logLikelihood(of: observations, given: x)
        }
    }

    /// The likelihood amortised over observations: sample i is weighted by ln p(yᵢ | x₀ᵢ),
    /// with yᵢ row i of the context.
    public static func amortizedLikelihood<Model: ObservationModel>(_ model: Model) -> TerminalCost
    where Model.Scalar == Scalar {
        TerminalCost { x, context in
            guard let context, context.shape[0] == x.shape[0] else {
                preconditionFailure("TerminalCost.amortizedLikelihood: needs one observation per sample, got context \(context?.shape.description ?? "none") for \(x.shape[0]) samples")
            }
            return model.logLikelihood(of: context, given: x)
        }
    }

    /// The reward r(x₀), `[batch, d]` → `[batch]`: ln ℓ = r, so the target is π ∝ exp(r) p_data.
    public static func reward(_ r: @escaping (Variable<Scalar>) -> Variable<Scalar>) -> TerminalCost {
        TerminalCost { x, _ in r(x) }
    }

    /// Returns ln ℓ(x₀) for each sample, `[batch]`.
    public func logWeight(_ x0: Variable<Scalar>, context: Tensor<Scalar>? = nil) -> Variable<Scalar> {
        let value = function(x0, context)
        precondition(value.shape == [x0.shape[0]], "TerminalCost: ln ℓ has shape \(value.shape); expected [batch] = [\(x0.shape[0])]")
        return value
    }

    /// Returns the cost −ln ℓ(x₀) for each sample, `[batch]`.
    public func callAsFunction(_ x0: Variable<Scalar>, context: Tensor<Scalar>? = nil) -> Variable<Scalar> {
        -logWeight(x0, context: context)
    }

    /// Returns ∇ₓ ln ℓ(x) for each sample, `[batch, d]`, by one reverse-mode pass.
    public func logWeightGradient(at x: Tensor<Scalar>, context: Tensor<Scalar>? = nil) -> Tensor<Scalar> {
        vectorJacobianProduct(at: [x], cotangent: Tensor(shape: [x.shape[0]], repeating: 1)) { inputs in
            logWeight(inputs[0], context: context)
        }.inputGradients[0]
    }
}

/// Rewards whose tilts of a Gaussian have closed forms, as differentiable functions of a
/// batch `[batch, d]` → `[batch]`.
public enum Rewards {
    /// r(x) = bᵀ x.
    public static func linear<Scalar: TensorScalar>(_ b: [Double]) -> (Variable<Scalar>) -> Variable<Scalar> {
        let column = Tensor<Scalar>(shape: [b.count, 1], scalars: b.map { Scalar($0) })
        return { x in
            precondition(x.rank == 2 && x.shape[1] == b.count, "Rewards.linear: x of shape \(x.shape) must be [batch, \(b.count)]")
            return matmul(x, Variable(column)).reshaped(to: [x.shape[0]])
        }
    }

    /// r(x) = −½ (x − c)ᵀ Q (x − c) with Q symmetric, given row-major as d × d entries.
    public static func quadratic<Scalar: TensorScalar>(precision q: [Double], centre c: [Double]) -> (Variable<Scalar>) -> Variable<Scalar> {
        let d = c.count
        precondition(q.count == d * d, "Rewards.quadratic: Q has \(q.count) entries; a centre of length \(d) needs \(d * d)")
        let matrix = Tensor<Scalar>(shape: [d, d], scalars: q.map { Scalar($0) })
        let centre = Tensor<Scalar>(shape: [1, d], scalars: c.map { Scalar($0) })
        return { x in
            precondition(x.rank == 2 && x.shape[1] == d, "Rewards.quadratic: x of shape \(x.shape) must be [batch, \(d)]")
            let offset = x - centre
            let quadratic = (matmul(offset, Variable(matrix)) * offset).sum(alongAxes: [1])
            return quadratic.reshaped(to: [x.shape[0]]) * Scalar(-0.5)
        }
    }
}
