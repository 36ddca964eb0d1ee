import Foundation
import NeuralNetworks
import Tensors

/// The settings of a `FashionClassifier` training run: Adam on the mean cross-entropy,
/// with the learning rate on a cosine decay to zero over all steps.
public struct ClassifierTrainingConfiguration: Codable, Equatable, Sendable {
    /// Passes over the training images.
    public var epochs: Int
    public var batchSize: Int
    /// Adam's initial learning rate.
    public var learningRate: Double
    /// The seed of the initial parameters and of each epoch's shuffle.
    public var seed: UInt64

    public init(epochs: Int = 3, batchSize: Int = 64, learningRate: Double = 2e-3, seed: UInt64 = 0) {
        precondition(epochs >= 1, "ClassifierTrainingConfiguration: epochs \(epochs) must be positive")
        precondition(batchSize >= 1, "ClassifierTrainingConfiguration: batchSize \(batchSize) must be positive")
        precondition(
            learningRate > 0 && learningRate.isFinite,
            "ClassifierTrainingConfiguration: learningRate \(learningRate) must be positive and finite")
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.seed = seed
    }
}

extension FashionClassifier where Scalar: OptimizerScalar {
    /// Trains a new classifier on `images` `[N, 1, 32, 32]` with `labels`.
    ///
    /// Parameters come from stream `seed.split(0)`, and epoch e visits the images in the
    /// order of a Fisher–Yates shuffle from stream `seed.split(1).split(e)`. The last
    /// batch of an epoch may be smaller. `report` receives the epoch (from 1) and its mean loss.
    public static func train(
        images: Tensor<Scalar>, labels: [Int], configuration: ClassifierTrainingConfiguration,
        report: (Int, Double) -> Void = { _, _ in }
    ) -> FashionClassifier<Scalar> {
        precondition(images.shape[0] == labels.count, "FashionClassifier.train: \(images.shape[0]) images but \(labels.count) labels")
        let root = PhiloxRandom(seed: configuration.seed)
        var initialization = root.split(0)
        let classifier = FashionClassifier(using: &initialization)
        let optimizer = Adam(parameters: classifier.parameters, learningRate: Scalar(configuration.learningRate))

        let count = labels.count
        let stepsPerEpoch = (count + configuration.batchSize - 1) / configuration.batchSize
        let schedule = CosineDecay(
            initialRate: configuration.learningRate, finalRate: 0, decaySteps: configuration.epochs * stepsPerEpoch)
        var step = 0
        for epoch in 0..<configuration.epochs {
            // The epoch's order.
            var shuffle = root.split(1).split(UInt64(epoch))
            var order = Array(0..<count)
            for i in stride(from: count - 1, to: 0, by: -1) {
                order.swapAt(i, Int(shuffle.next() % UInt64(i + 1)))
            }

            var totalLoss = 0.0
            for start in stride(from: 0, to: count, by: configuration.batchSize) {
                let indices = Array(order[start..<Swift.min(start + configuration.batchSize, count)])
                classifier.zeroGradients()
                let loss = crossEntropy(
                    logits: classifier.logits(Variable(images.gathering(atIndices: indices))),
                    labels: indices.map { labels[$0] })
                loss.backward()
                optimizer.learningRate = Scalar(schedule.learningRate(atStep: step))
                optimizer.step()
                totalLoss += Double(loss.value.scalar) * Double(indices.count)
                step += 1
            }
            report(epoch + 1, totalLoss / Double(count))
        }
        return classifier
    }
}

extension FashionClassifier {
    /// The weight file's path relative to the repository root (and the default of
    /// `deft train-classifier --output`).
    public static var defaultWeightsPath: String { "models/fashion-classifier.safetensors" }

    /// Loads weights written by `write(to:metadata:)`, widening `F32` for `Double`.
    public convenience init(contentsOf url: URL) throws {
        var generator = PhiloxRandom(seed: 0)
        self.init(using: &generator)
        let file = try SafeTensorsFile(contentsOf: url)
        var values: [String: Tensor<Scalar>] = [:]
        for (name, parameter) in namedParameters {
            values[name] = try file.tensor(name, as: Scalar.self, shape: parameter.value.shape, convertingDtype: true)
        }
        loadParameterValues(values)
    }

    /// Writes the parameters and `metadata` as a safetensors file, atomically.
    public func write(to url: URL, metadata: [String: String] = [:]) throws {
        try SafeTensorsFile.write(parameterValues, metadata: metadata, to: url)
    }
}

extension FashionMNIST {
    /// Loads all 10 000 test images and labels, of which the `.evaluation` split is the
    /// first 1000, for reporting a classifier's test accuracy. Images are
    /// `[10000, 1, 28, 28]`, or `[10000, 1, 32, 32]` with `paddedTo32`, in [−1, 1].
    ///
    /// Throws `DatasetError` as `load(_:as:paddedTo32:directory:)` does.
    public static func loadTestSet<Scalar: TensorScalar>(
        as type: Scalar.Type = Scalar.self, paddedTo32: Bool = false, directory: URL = defaultDirectory
    ) throws -> (images: Tensor<Scalar>, labels: [Int]) {
        // The evaluation split checks every file and count; the rest reuses its reader.
        _ = try load(.evaluation, as: Scalar.self, directory: directory)
        let images = try readIDX(path: directory.appendingPathComponent("t10k-images-idx3-ubyte.gz").path, expectedRank: 3)
        let labels = try readIDX(path: directory.appendingPathComponent("t10k-labels-idx1-ubyte.gz").path, expectedRank: 1)
        let count = images.dimensions[0]
        let tensor: Tensor<Scalar> = images.bytes.withUnsafeBufferPointer { bytes in
            imageTensor(bytes, count: count, paddedTo32: paddedTo32)
        }
        return (tensor, labels.bytes.map(Int.init))
    }
}
