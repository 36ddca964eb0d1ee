import Tensors

/// Solves `min ‖A x − y‖` for each batch element by CGLS started from `x = 0`, returning the
/// minimum-norm solution `A⁺ y` up to the stopping rule.
///
/// The iteration (Hestenes–Stiefel on the normal equations, without forming `AᵀA`):
/// `r = y, s = Aᵀ r, p = s, γ = ‖s‖²`; then repeatedly `q = A p, α = γ/‖q‖², x += α p,
/// r −= α q, s = Aᵀ r, γ' = ‖s‖², p = s + (γ'/γ) p`. Each batch element has its own step
/// sizes. It stops after `iterations` steps or once `‖s‖ ≤ relativeTolerance · ‖Aᵀ y‖`
/// for every element.
func conjugateGradientLeastSquares<Scalar: TensorScalar>(
    _ y: Tensor<Scalar>, apply: (Tensor<Scalar>) -> Tensor<Scalar>, adjoint: (Tensor<Scalar>) -> Tensor<Scalar>,
    iterations: Int, relativeTolerance: Double
) -> Tensor<Scalar> {
    let batch = y.shape[0]
    var residual = y
    var direction = adjoint(y)
    var solution = Tensor<Scalar>(zeros: direction.shape)
    var gamma = batchSquaredNorms(direction)
    let thresholds = gamma.map { relativeTolerance * relativeTolerance * $0 }

    for _ in 0..<iterations {
        if zip(gamma, thresholds).allSatisfy({ $0 <= $1 }) { break }

        let q = apply(direction)
        let qNorms = batchSquaredNorms(q)
        let alpha = (0..<batch).map { qNorms[$0] > 0 ? gamma[$0] / qNorms[$0] : 0 }
        solution = solution + direction * batchScale(alpha, rank: solution.rank)
        residual = residual - q * batchScale(alpha, rank: residual.rank)

        let s = adjoint(residual)
        let newGamma = batchSquaredNorms(s)
        let beta = (0..<batch).map { gamma[$0] > 0 ? newGamma[$0] / gamma[$0] : 0 }
        direction = s + direction * batchScale(beta, rank: direction.rank)
        gamma = newGamma
    }
    return solution
}

/// `‖x_b‖²` for each batch element, summed in `Scalar` and returned as Doubles.
func batchSquaredNorms<Scalar: TensorScalar>(_ x: Tensor<Scalar>) -> [Double] {
    let batch = x.shape[0]
    return doubleScalars(square(x).reshaped(to: [batch, -1]).sum(alongAxes: [1]))
}

/// Returns a `[N, 1, …, 1]` tensor of per-element factors that broadcasts against a rank-`rank` batch.
func batchScale<Scalar: TensorScalar>(_ values: [Double], rank: Int) -> Tensor<Scalar> {
    Tensor(shape: [values.count] + Array(repeating: 1, count: rank - 1), scalars: values.map { Scalar($0) })
}
