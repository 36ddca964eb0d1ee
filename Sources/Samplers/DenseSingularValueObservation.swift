import SDECore
import Tensors

/// A linear observation model on a small signal, given the singular value decomposition
/// `A = U Σ Vᵀ` of its dense matrix, so that DDRM and ΠGDM's spectral path run on
/// operators that have no structured SVD (such as CT's `RadonTransformOperator`).
///
/// The wrapper assembles `A` column by column, `A[:, j] = A(e_j)`, by one batched call of
/// the wrapped model's `forward` on the `n` basis signals, and factors it in Double with
/// LAPACK (`singularValueDecomposition`, full `V`). Singular values at or below
/// `relativeCutoff · σ₁` are dropped: the `r` that remain are `singularValues`, and the
/// directions of the dropped ones count as unobserved (DDRM's missing components).
/// `forward`, `adjoint`, `logLikelihood`, `sample` and σ_y delegate to the wrapped model.
/// `pseudoInverse` is `V Σ⁺ Uᵀ y` over the kept values.
///
/// Storage is dense: `U` is `m × r` and `V` is `n × n`, so `n` is limited to
/// `maximumSignalCount` (CT on 32 × 32 images at 16 angles has n = 1024, m = 16 · 46 = 736).
public final class DenseSingularValueObservation<Scalar: TensorScalar>: SingularValueObservationModel {
    /// The largest signal size `n` accepted, so that `V` stays below 128 MiB in Double.
    public static var maximumSignalCount: Int { 4096 }

    /// The wrapped model.
    public let base: any LinearObservationModel<Scalar>
    /// The shape of one signal, without the batch axis.
    public let signalShape: [Int]
    /// The shape of one observation, without the batch axis.
    public let observationShape: [Int]
    /// The kept singular values σ₁ ≥ … ≥ σ_r > `relativeCutoff · σ₁`, `[r]`.
    public let singularValues: Tensor<Scalar>
    /// Every singular value of the dense matrix, kept or not, in Double.
    public let allSingularValues: [Double]

    /// U restricted to the kept values, `[m, r]`.
    private let leftVectors: Tensor<Scalar>
    /// Vᵀ, `[n, n]`: its first `r` rows pair with the kept singular values.
    private let rightVectorsTransposed: Tensor<Scalar>

    /// Assembles and factors the matrix of `base` on signals of shape `signalShape`.
    ///
    /// - Throws: `SingularValueDecompositionError` when LAPACK fails.
    public init(wrapping base: any LinearObservationModel<Scalar>, signalShape: [Int], relativeCutoff: Double = 1e-10) throws {
        let n = signalShape.reduce(1, *)
        precondition(
            n >= 1 && n <= Self.maximumSignalCount,
            "DenseSingularValueObservation: signal of shape \(signalShape) has \(n) entries; the dense SVD needs 1…\(Self.maximumSignalCount)")
        precondition(relativeCutoff >= 0, "DenseSingularValueObservation: relativeCutoff \(relativeCutoff) must be non-negative")
        self.base = base
        self.signalShape = signalShape

        // Column j of A is A(e_j): row j of the batched output.
        var basis = [Scalar](repeating: 0, count: n * n)
        for j in 0..<n { basis[j * n + j] = 1 }
        let columns = withoutRecording { base.forward(Variable(Tensor(shape: [n] + signalShape, scalars: basis))).value }
        observationShape = Array(columns.shape.dropFirst())
        let m = observationShape.reduce(1, *)
        let matrix = columns.reshaped(to: [n, m]).transposed()

        let svd = try singularValueDecomposition(Tensor<Double>(matrix), fullMatrices: true)
        allSingularValues = svd.singularValues.scalars
        let largest = allSingularValues.first ?? 0
        let rank = allSingularValues.filter { $0 > relativeCutoff * largest && $0 > 0 }.count
        singularValues = Tensor(shape: [rank], scalars: allSingularValues.prefix(rank).map { Scalar($0) })
        leftVectors = Tensor(svd.u.slice(alongAxis: 1, 0..<rank))
        rightVectorsTransposed = Tensor(svd.vTransposed)
    }

    /// The signal dimension n.
    public var signalCount: Int { rightVectorsTransposed.shape[1] }
    /// The observation dimension m.
    public var observationCount: Int { leftVectors.shape[0] }

    // MARK: - ObservationModel, delegated

    public var noiseStandardDeviation: Scalar { base.noiseStandardDeviation }

    public func forward(_ x: Variable<Scalar>) -> Variable<Scalar> {
        base.forward(x)
    }

    public func logLikelihood(of y: Tensor<Scalar>, given x: Variable<Scalar>) -> Variable<Scalar> {
        base.logLikelihood(of: y, given: x)
    }

    public func sample(given x: Tensor<Scalar>, using generator: inout PhiloxRandom) -> Tensor<Scalar> {
        base.sample(given: x, using: &generator)
    }

    public func adjoint(_ y: Tensor<Scalar>) -> Tensor<Scalar> {
        base.adjoint(y)
    }

    /// `V Σ⁺ Uᵀ y` over the kept singular values.
    public func pseudoInverse(_ y: Tensor<Scalar>) -> Tensor<Scalar> {
        let rank = singularValues.shape[0]
        let spectral = applyUTranspose(y) / singularValues.reshaped(to: [1, rank])
        guard rank < signalCount else { return applyV(spectral) }
        return applyV(Tensor.concatenate([spectral, Tensor(zeros: [y.shape[0], signalCount - rank])], alongAxis: 1))
    }

    /// Runs CGLS on `A x = y` from 0 in the singular basis, the iteration that the operators'
    /// own pseudo-inverses run on `A` (`RadonTransformOperator.pseudoInverse`).
    ///
    /// CGLS is unchanged by the orthogonal changes of basis `U` and `V`, and the part of `y`
    /// outside the range of `U` never enters it, because `Aᵀ` removes it. So the iteration
    /// runs on the diagonal system `Σ z = b` with `b = Uᵀ y`, and `x = V z`:
    ///
    ///     r = b, s = Σ r, p = s, γ = ‖s‖²
    ///     q = Σ p, α = γ / ‖q‖², z += α p, r −= α q, s = Σ r, γ′ = ‖s‖², p = s + (γ′ / γ) p.
    ///
    /// A step costs O(r) per image instead of a product with `A` and one with `Aᵀ`. Each
    /// batch element has its own step sizes. The run stops after `iterations` steps or once
    /// `‖s‖ ≤ relativeTolerance · ‖Aᵀ y‖` for every element. In exact arithmetic the result
    /// is the operator's CGLS iterate without the dropped singular values.
    public func conjugateGradientLeastSquares(_ y: Tensor<Scalar>, iterations: Int, relativeTolerance: Double) -> Tensor<Scalar> {
        precondition(iterations >= 0, "DenseSingularValueObservation: CGLS iterations \(iterations) must be non-negative")
        let (batch, rank) = (y.shape[0], singularValues.shape[0])
        let sigma = singularValues.scalars.map { Double($0) }
        let projected = applyUTranspose(y).scalars.map { Double($0) }

        var solution = [Double](repeating: 0, count: batch * rank)
        var residual = projected
        var direction = (0..<batch * rank).map { sigma[$0 % rank] * residual[$0] }
        var gamma = squaredNorms(direction, batch: batch)
        let thresholds = gamma.map { relativeTolerance * relativeTolerance * $0 }

        for _ in 0..<iterations {
            if zip(gamma, thresholds).allSatisfy({ $0 <= $1 }) { break }
            for b in 0..<batch {
                let row = b * rank..<(b + 1) * rank
                let qNorm = row.reduce(0.0) { total, i in
                    let q = sigma[i % rank] * direction[i]
                    return total + q * q
                }
                let alpha = qNorm > 0 ? gamma[b] / qNorm : 0
                var newGamma = 0.0
                for i in row {
                    solution[i] += alpha * direction[i]
                    residual[i] -= alpha * sigma[i % rank] * direction[i]
                    let s = sigma[i % rank] * residual[i]
                    newGamma += s * s
                }
                let beta = gamma[b] > 0 ? newGamma / gamma[b] : 0
                for i in row {
                    direction[i] = sigma[i % rank] * residual[i] + beta * direction[i]
                }
                gamma[b] = newGamma
            }
        }

        // x = V z, with 0 on the dropped directions.
        var spectral = Tensor(shape: [batch, rank], scalars: solution.map { Scalar($0) })
        if rank < signalCount {
            spectral = Tensor.concatenate([spectral, Tensor(zeros: [batch, signalCount - rank])], alongAxis: 1)
        }
        return applyV(spectral)
    }

    /// Returns the squared norm of each of the `batch` rows of `values`.
    private func squaredNorms(_ values: [Double], batch: Int) -> [Double] {
        let width = values.count / Swift.max(batch, 1)
        return (0..<batch).map { b in values[b * width..<(b + 1) * width].reduce(0) { $0 + $1 * $1 } }
    }

    // MARK: - SingularValueObservationModel

    public func applyVTranspose(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(
            Array(x.shape.dropFirst()) == signalShape,
            "DenseSingularValueObservation.applyVTranspose: input of shape \(x.shape) must be [N] + \(signalShape)")
        return matmul(x.reshaped(to: [x.shape[0], signalCount]), rightVectorsTransposed, transposeB: true)
    }

    public func applyV(_ z: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(
            z.rank == 2 && z.shape[1] == signalCount,
            "DenseSingularValueObservation.applyV: input of shape \(z.shape) must be [N, \(signalCount)]")
        return matmul(z, rightVectorsTransposed).reshaped(to: [z.shape[0]] + signalShape)
    }

    public func applyUTranspose(_ y: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(
            Array(y.shape.dropFirst()) == observationShape,
            "DenseSingularValueObservation.applyUTranspose: input of shape \(y.shape) must be [N] + \(observationShape)")
        return matmul(y.reshaped(to: [y.shape[0], observationCount]), leftVectors)
    }

    public func applyU(_ z: Tensor<Scalar>) -> Tensor<Scalar> {
        let rank = singularValues.shape[0]
        precondition(
            z.rank == 2 && z.shape[1] == rank, "DenseSingularValueObservation.applyU: input of shape \(z.shape) must be [N, \(rank)]")
        return matmul(z, leftVectors, transposeB: true).reshaped(to: [z.shape[0]] + observationShape)
    }
}
