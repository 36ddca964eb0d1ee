import Tensors

/// An affine map x ↦ W x + c from ℝⁿ to ℝᵐ, applied row-wise to batches: the form of
/// every score, h-transform and Tweedie mean of the Gaussian oracle at a fixed time.
public struct AffineMap: Sendable {
    /// W, m × n.
    public let weight: Matrix
    /// c, of length m.
    public let offset: [Double]

    public init(weight: Matrix, offset: [Double]) {
        precondition(
            offset.count == weight.rows,
            "AffineMap: offset of length \(offset.count) does not fit a weight with \(weight.rows) rows")
        self.weight = weight
        self.offset = offset
    }

    public var inputDimension: Int { weight.columns }
    public var outputDimension: Int { weight.rows }

    /// Returns W x + c.
    public func callAsFunction(_ x: [Double]) -> [Double] {
        add(weight * x, offset)
    }

    /// Applies the map to each row of `x`, `[N, n]` → `[N, m]`: x Wᵀ + cᵀ.
    public func callAsFunction<Scalar: TensorScalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(
            x.rank == 2 && x.shape[1] == inputDimension,
            "AffineMap: input of shape \(x.shape) must be [N, \(inputDimension)]")
        return matmul(x, weight.tensor(Scalar.self), transposeB: true) + offsetRow(Scalar.self)
    }

    /// Applies the map to each row of `x`, differentiably in `x`.
    public func callAsFunction<Scalar: TensorScalar>(_ x: Variable<Scalar>) -> Variable<Scalar> {
        precondition(
            x.rank == 2 && x.shape[1] == inputDimension,
            "AffineMap: input of shape \(x.shape) must be [N, \(inputDimension)]")
        return matmul(x, Variable(weight.tensor(Scalar.self)), transposeB: true) + offsetRow(Scalar.self)
    }

    /// Returns the map x ↦ a (W x + c), for a scalar a.
    public func scaled(by a: Double) -> AffineMap {
        AffineMap(weight: weight * a, offset: scale(offset, by: a))
    }

    /// The sum of two maps with the same input and output dimensions.
    public static func + (lhs: AffineMap, rhs: AffineMap) -> AffineMap {
        AffineMap(weight: lhs.weight + rhs.weight, offset: add(lhs.offset, rhs.offset))
    }

    private func offsetRow<Scalar: TensorScalar>(_ type: Scalar.Type) -> Tensor<Scalar> {
        Tensor(shape: [1, outputDimension], scalars: offset.map { Scalar($0) })
    }
}
