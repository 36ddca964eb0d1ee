import SDECore
import Tensors

/// A method that turns noise into samples of a diffusion model's data distribution,
/// driving any `NoisePredictor`.
///
/// Every sampler is batched (the first axis of `initial` indexes the samples, the other
/// axes are passed to the predictor unchanged) and runs without recording a graph.
public protocol Sampler {
    /// The number of predictor calls that one `sample` call makes, whatever the batch size.
    var modelEvaluations: Int { get }

    /// Transforms `initial`, the state at the start of the reverse process (usually
    /// N(0, I) draws from `initialNoise`), into samples of the same shape.
    ///
    /// - Parameter generator: the source of the sampler's own noise; samplers without
    ///   noise leave it unchanged.
    func sample<Predictor: NoisePredictor>(
        _ predictor: Predictor, from initial: Tensor<Predictor.Scalar>, using generator: inout PhiloxRandom
    ) throws -> Tensor<Predictor.Scalar>
}

/// Returns x_T ~ N(0, I) of the given shape, the usual start of a VP sampler.
public func initialNoise<Scalar: TensorScalar>(
    shape: [Int], as type: Scalar.Type = Scalar.self, using generator: inout PhiloxRandom
) -> Tensor<Scalar> {
    Tensor.normal(shape: shape, using: &generator)
}

/// Returns `x` with every element clipped to [−1, 1], the range of image data.
func clippedToUnitRange<Scalar: TensorScalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
    x.applying(.maximum, Tensor(shape: [1], repeating: -1)).applying(.minimum, Tensor(shape: [1], repeating: 1))
}

/// Returns the times `[batch]` all equal to `t`, the form `NoisePredictor` takes.
func batchTimes<Scalar: TensorScalar>(_ t: Double, batch: Int) -> Tensor<Scalar> {
    Tensor(shape: [batch], repeating: Scalar(t))
}
