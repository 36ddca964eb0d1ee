import Foundation
import NeuralNetworks
import Tensors

/// A small convolutional classifier of 32 × 32 Fashion-MNIST images in [−1, 1] (the
/// prior's padded space), whose top-1 accuracy on reconstructions measures how much of
/// an image's class a reconstruction keeps.
///
///     h₁ = AvgPool₂(ReLU(Conv3×3(1 → 32)(x)))      32 × 32 → 16 × 16
///     h₂ = AvgPool₂(ReLU(Conv3×3(32 → 64)(h₁)))    16 × 16 → 8 × 8
///     h₃ = AvgPool₂(ReLU(Conv3×3(64 → 64)(h₂)))    8 × 8 → 4 × 4
///     logits = Linear(1024 → 10)(flatten(h₃))
///
/// Convolutions use padding 1. Parameter names: `conv1.*`, `conv2.*`, `conv3.*`, `output.*`.
public final class FashionClassifier<Scalar: TensorScalar>: Module {
    public let conv1: Conv2D<Scalar>
    public let conv2: Conv2D<Scalar>
    public let conv3: Conv2D<Scalar>
    public let output: Linear<Scalar>

    /// The number of classes.
    public static var classCount: Int { 10 }
    /// The image height and width the classifier takes.
    public static var imageSize: Int { 32 }

    /// Creates a classifier with He-uniform convolutions and a PyTorch-default output layer.
    public init(using generator: inout PhiloxRandom) {
        conv1 = Conv2D(inputChannels: 1, outputChannels: 32, kernelSize: 3, padding: 1, initialization: .heUniform, using: &generator)
        conv2 = Conv2D(inputChannels: 32, outputChannels: 64, kernelSize: 3, padding: 1, initialization: .heUniform, using: &generator)
        conv3 = Conv2D(inputChannels: 64, outputChannels: 64, kernelSize: 3, padding: 1, initialization: .heUniform, using: &generator)
        output = Linear(inputSize: 64 * 4 * 4, outputSize: Self.classCount, using: &generator)
    }

    public var namedParameters: [(name: String, parameter: Variable<Scalar>)] {
        conv1.namedParameters(prefix: "conv1") + conv2.namedParameters(prefix: "conv2")
            + conv3.namedParameters(prefix: "conv3") + output.namedParameters(prefix: "output")
    }

    /// Returns the logits `[N, 10]` of images `[N, 1, 32, 32]`.
    public func logits(_ x: Variable<Scalar>) -> Variable<Scalar> {
        precondition(
            x.rank == 4 && Array(x.shape[1...]) == [1, Self.imageSize, Self.imageSize],
            "FashionClassifier: images of shape \(x.shape) must be [N, 1, 32, 32]; pad 28 × 28 images with FashionMNIST.load(paddedTo32: true)")
        var h = avgPool2d(relu(conv1(x)), kernelSize: 2)
        h = avgPool2d(relu(conv2(h)), kernelSize: 2)
        h = avgPool2d(relu(conv3(h)), kernelSize: 2)
        return output(h.reshaped(to: [x.shape[0], 64 * 4 * 4]))
    }

    /// Returns the most likely class of each image, evaluating `batchSize` images at a time without recording a graph.
    public func predictedClasses(_ images: Tensor<Scalar>, batchSize: Int = 500) -> [Int] {
        precondition(batchSize > 0, "FashionClassifier.predictedClasses: batchSize \(batchSize) must be positive")
        var classes: [Int] = []
        classes.reserveCapacity(images.shape[0])
        for start in stride(from: 0, to: images.shape[0], by: batchSize) {
            let batch = images.slice(alongAxis: 0, start..<Swift.min(start + batchSize, images.shape[0]))
            let scores = withoutRecording { logits(Variable(batch)).value }
            let values = scores.scalars
            for row in 0..<batch.shape[0] {
                let rowScores = values[(row * Self.classCount)..<((row + 1) * Self.classCount)]
                classes.append(rowScores.indices.max { rowScores[$0] < rowScores[$1] }! - row * Self.classCount)
            }
        }
        return classes
    }

    /// Returns the fraction of `images` whose predicted class equals `labels`.
    public func accuracy(_ images: Tensor<Scalar>, labels: [Int]) -> Double {
        precondition(images.shape[0] == labels.count, "FashionClassifier.accuracy: \(images.shape[0]) images but \(labels.count) labels")
        let predicted = predictedClasses(images)
        return Double(zip(predicted, labels).filter { $0 == $1 }.count) / Double(labels.count)
    }
}

/// Returns the mean cross-entropy −(1/N) Σₙ ln softmax(zₙ)_{yₙ} of logits `[N, C]` and labels yₙ ∈ 0..<C.
///
/// ln softmax(z)_c = z_c − m − ln Σⱼ exp(zⱼ − m) with m = maxⱼ zⱼ held constant, which
/// changes no value or gradient and keeps exp from overflowing.
public func crossEntropy<Scalar: TensorScalar>(logits: Variable<Scalar>, labels: [Int]) -> Variable<Scalar> {
    precondition(logits.rank == 2, "crossEntropy: logits of shape \(logits.shape) must be [N, C]")
    let (count, classes) = (logits.shape[0], logits.shape[1])
    precondition(labels.count == count, "crossEntropy: \(labels.count) labels for \(count) rows of logits")
    precondition(labels.allSatisfy { $0 >= 0 && $0 < classes }, "crossEntropy: labels must lie in 0..<\(classes)")

    let shifted = logits - Variable(logits.value.max(alongAxes: [1]))
    let logSoftmax = shifted - log(exp(shifted).sum(alongAxes: [1]))
    var oneHot = [Scalar](repeating: 0, count: count * classes)
    for (row, label) in labels.enumerated() {
        oneHot[row * classes + label] = 1
    }
    return (logSoftmax * Tensor(shape: [count, classes], scalars: oneHot)).sum() * Scalar(-1 / Double(count))
}
