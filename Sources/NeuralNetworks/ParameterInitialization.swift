import Tensors

/// The distribution of a linear or convolution layer's initial weight and bias.
///
/// `fanIn` is the number of inputs that feed one output: `inputSize` for `Linear`,
/// `inputChannels · kernelHeight · kernelWidth` for `Conv2D`. Draws come from the
/// `PhiloxRandom` passed to the layer's initialiser, weight first and then bias, each in
/// row-major order, so the same generator state gives the same parameters.
public enum ParameterInitialization: Sendable {
    /// PyTorch's default for `nn.Linear` and `nn.Conv2d` (as of PyTorch 2.x): weight and
    /// bias both ~ U(-1/√fanIn, 1/√fanIn). For the weight this is Kaiming-uniform with
    /// a = √5.
    case pytorchDefault
    /// He (Kaiming) uniform for ReLU-like activations: weight ~ U(-√(6/fanIn), √(6/fanIn)),
    /// bias = 0.
    case heUniform
    /// Weight and bias = 0, for an output layer that must start by returning zero.
    case zeros

    /// Draws a weight of `shape` and a bias of `[outputs]`, consuming draws from
    /// `generator` as the cases describe.
    func makeParameters<Scalar: TensorScalar>(
        weightShape: [Int], biasSize: Int, fanIn: Int, using generator: inout PhiloxRandom
    ) -> (weight: Tensor<Scalar>, bias: Tensor<Scalar>) {
        precondition(fanIn > 0, "ParameterInitialization: fanIn \(fanIn) must be positive")
        switch self {
        case .pytorchDefault:
            let bound = 1 / Scalar(fanIn).squareRoot()
            let weight = Tensor<Scalar>.uniform(shape: weightShape, lower: -bound, upper: bound, using: &generator)
            let bias = Tensor<Scalar>.uniform(shape: [biasSize], lower: -bound, upper: bound, using: &generator)
            return (weight, bias)
        case .heUniform:
            let bound = (6 / Scalar(fanIn)).squareRoot()
            let weight = Tensor<Scalar>.uniform(shape: weightShape, lower: -bound, upper: bound, using: &generator)
            return (weight, Tensor(zeros: [biasSize]))
        case .zeros:
            return (Tensor(zeros: weightShape), Tensor(zeros: [biasSize]))
        }
    }
}
