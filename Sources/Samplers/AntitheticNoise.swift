import Tensors

/// Returns `copies` starts x_T for a batch of shape `shape` ([N, …]), drawn in antithetic
/// pairs and stacked along axis 0, with rows k·N ..< (k + 1)·N holding copy k.
///
/// Copy 2j + 1 is the negation of copy 2j. With an odd count the last copy is drawn on its
/// own.
///
/// Every copy is N(0, I), so the mean of the samples a sampler draws from them is an
/// unbiased estimate of the mean of the sampler's output, as with independent starts.
/// The pair cancels the odd part of the map from x_T to the sample: for a deterministic
/// sampler F (DDIM with η = 0),
///
///     ½ (F(z) + F(−z)) = F(0) + ½ (F(z) + F(−z) − 2 F(0)),
///
/// so an F that is affine in z, as it is for Gaussian data, gives the pair mean F(0), the
/// mean of F's output, with no variance. A stochastic sampler's own noise is paired only
/// where the sampler pairs it too, as `DDIMSampler.antitheticCopies` does.
public func antitheticNoise<Scalar: TensorScalar>(
    shape: [Int], copies: Int, as type: Scalar.Type = Scalar.self, using generator: inout PhiloxRandom
) -> Tensor<Scalar> {
    precondition(copies >= 1, "antitheticNoise: copies \(copies) must be at least 1")
    precondition(!shape.isEmpty && shape[0] >= 1, "antitheticNoise: shape \(shape) must be [N, …] with N ≥ 1")
    let count = shape[0]
    var stackedShape = shape
    stackedShape[0] = count * ((copies + 1) / 2)
    let draws: Tensor<Scalar> = initialNoise(shape: stackedShape, using: &generator)

    let pieces = (0..<copies).map { copy -> Tensor<Scalar> in
        let pair = copy / 2
        let draw = draws.slice(alongAxis: 0, pair * count..<(pair + 1) * count)
        return copy % 2 == 0 ? draw : -draw
    }
    return copies == 1 ? pieces[0] : Tensor.concatenate(pieces, alongAxis: 0)
}
