import SDECore
import Tensors

/// Inpainting: `y = m ⊙ (x + σ_y ξ)` with a 0/1 mask `m` that is 1 on observed pixels.
///
/// Missing pixels of `y` are exactly 0 and carry no noise, so each batch element has `m =
/// C · (observed pixels)` measurements and the likelihood ignores the missing pixels.
/// The mask `[M, 1, H, W]` is shared by the channels. With `M = 1` one mask serves any
/// batch. With `M = N` each batch element has its own mask, so training can be amortised
/// over masks by building a new operator for each batch of masks.
///
/// `A = diag(m)` is its own adjoint and its own pseudo-inverse. Its singular value
/// decomposition is a permutation: `Vᵀ x` lists the observed pixels of `x` in raster
/// order (channel, row, column) and then the missing ones, `Uᵀ y` lists the observed
/// pixels of `y`, and every singular value is 1. That needs the same number `r` of
/// observed pixels in every mask of the batch, which `InpaintingMask.box` at any position
/// and `InpaintingMask.randomPixels` provide.
public final class InpaintingOperator<Scalar: TensorScalar>: GaussianObservationModel, SingularValueObservationModel {
    /// The 0/1 mask `[M, 1, H, W]`, 1 where a pixel is observed.
    public let mask: Tensor<Scalar>
    public let channels: Int
    public let noise: GaussianNoise<Scalar>

    /// Observed entries `C · Σ m` of each mask.
    private let observedCounts: [Int]
    /// For each mask, the observed entries of the flattened `[C, H, W]` image in raster
    /// order, then the missing ones. It is nil when the masks observe different numbers of pixels.
    private let ordering: ColumnIndices?

    /// Creates the operator for `mask` (`[M, 1, H, W]`, entries 0 or 1) on images of `channels` planes.
    public init(mask: Tensor<Scalar>, channels: Int = 1, noiseStandardDeviation: Scalar) {
        precondition(mask.rank == 4 && mask.shape[1] == 1, "InpaintingOperator: mask of shape \(mask.shape) must be [M, 1, H, W]")
        precondition(channels >= 1, "InpaintingOperator: channels \(channels) must be at least 1")
        let values = doubleScalars(mask)
        precondition(values.allSatisfy { $0 == 0 || $0 == 1 }, "InpaintingOperator: mask entries must be 0 or 1")
        self.mask = mask
        self.channels = channels
        self.noise = GaussianNoise(standardDeviation: noiseStandardDeviation)

        let plane = mask.shape[2] * mask.shape[3]
        var counts: [Int] = []
        var lists: [[Int32]] = []
        for row in 0..<mask.shape[0] {
            var observed: [Int32] = []
            var missing: [Int32] = []
            for c in 0..<channels {
                for pixel in 0..<plane {
                    let index = Int32(c * plane + pixel)
                    if values[row * plane + pixel] == 1 { observed.append(index) } else { missing.append(index) }
                }
            }
            counts.append(observed.count)
            lists.append(observed + missing)
        }
        observedCounts = counts
        ordering = Set(counts).count == 1
            ? ColumnIndices(rows: lists.count, count: channels * plane, indices: lists.flatMap { $0 })
            : nil
    }

    public var height: Int { mask.shape[2] }
    public var width: Int { mask.shape[3] }

    /// `m ⊙ x`, checking that `x` is `[N, C, H, W]` with `N` equal to the mask count or a shared mask.
    private func masked(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(
            x.rank == 4 && x.shape[1] == channels && x.shape[2] == height && x.shape[3] == width,
            "InpaintingOperator: input of shape \(x.shape) must be [N, \(channels), \(height), \(width)]")
        precondition(
            mask.shape[0] == 1 || mask.shape[0] == x.shape[0],
            "InpaintingOperator: \(mask.shape[0]) masks for a batch of \(x.shape[0])")
        return x * mask
    }

    public func forward(_ x: Variable<Scalar>) -> Variable<Scalar> {
        linearVariable(x, apply: masked)
    }

    /// `C ·` observed pixels of each mask; the entries of `y` at missing pixels are not measurements.
    public func measurementCounts(observationShape: [Int]) -> [Int] {
        let batchSize = observationShape[0]
        precondition(
            mask.shape[0] == 1 || mask.shape[0] == batchSize,
            "InpaintingOperator: \(mask.shape[0]) masks for a batch of \(batchSize)")
        return mask.shape[0] == 1 ? Array(repeating: observedCounts[0], count: batchSize) : observedCounts
    }

    /// `m ⊙ y − m ⊙ x`: entries of `y` at missing pixels are ignored.
    public func residual(of y: Tensor<Scalar>, given x: Variable<Scalar>) -> Variable<Scalar> {
        Variable(masked(y)) - forward(x)
    }

    /// Draws `y = m ⊙ (x + σ_y ξ)`.
    public func sample(given x: Tensor<Scalar>, using generator: inout PhiloxRandom) -> Tensor<Scalar> {
        noise.perturb(masked(x), mask: mask, using: &generator)
    }

    public func adjoint(_ y: Tensor<Scalar>) -> Tensor<Scalar> {
        masked(y)
    }

    public func pseudoInverse(_ y: Tensor<Scalar>) -> Tensor<Scalar> {
        masked(y)
    }

    // Singular value decomposition.

    private var checkedOrdering: ColumnIndices {
        guard let ordering else {
            preconditionFailure("InpaintingOperator: the masks observe \(Set(observedCounts).sorted()) pixels; an SVD needs one count")
        }
        return ordering
    }

    /// `r` ones, `r = C ·` observed pixels of each mask.
    public var singularValues: Tensor<Scalar> {
        _ = checkedOrdering
        return Tensor(shape: [observedCounts[0]], repeating: 1)
    }

    public func applyVTranspose(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        gatherColumns(checkedShape(x), checkedOrdering)
    }

    public func applyV(_ z: Tensor<Scalar>) -> Tensor<Scalar> {
        let length = channels * height * width
        precondition(z.rank == 2 && z.shape[1] == length, "applyV: input of shape \(z.shape) must be [N, \(length)]")
        return scatterColumns(z, checkedOrdering, length: length).reshaped(to: [z.shape[0], channels, height, width])
    }

    public func applyUTranspose(_ y: Tensor<Scalar>) -> Tensor<Scalar> {
        gatherColumns(checkedShape(y), checkedOrdering.prefix(observedCounts[0]))
    }

    public func applyU(_ z: Tensor<Scalar>) -> Tensor<Scalar> {
        let rank = observedCounts[0]
        precondition(z.rank == 2 && z.shape[1] == rank, "applyU: input of shape \(z.shape) must be [N, \(rank)]")
        return scatterColumns(z, checkedOrdering.prefix(rank), length: channels * height * width)
            .reshaped(to: [z.shape[0], channels, height, width])
    }

    private func checkedShape(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(
            x.rank == 4 && x.shape[1] == channels && x.shape[2] == height && x.shape[3] == width,
            "InpaintingOperator: input of shape \(x.shape) must be [N, \(channels), \(height), \(width)]")
        precondition(
            mask.shape[0] == 1 || mask.shape[0] == x.shape[0],
            "InpaintingOperator: \(mask.shape[0]) masks for a batch of \(x.shape[0])")
        return x
    }
}
