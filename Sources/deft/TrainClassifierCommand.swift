import Foundation
import Imaging
import Tensors

/// `deft train-classifier`: trains the small Fashion-MNIST classifier that scores reconstructions.
enum TrainClassifierCommand {
    static let help = """
        usage: deft train-classifier [options]

        Trains FashionClassifier (three 3×3 convolutions with ReLU and 2×2 average pooling,
        then a linear layer; 32×32 inputs in [−1, 1]) on the Fashion-MNIST prior-training
        split (training images 0..<59000, padded to 32×32) with Adam and a cosine decay of
        the learning rate. Prints the top-1 accuracy on all 10 000 test images and on the
        1000-image evaluation split (test images 0..<1000), and writes the weights with
        both accuracies in the file's metadata.

        options:
          --epochs N          passes over the training images (default 3)
          --batch-size N      images per step (default 64)
          --learning-rate X   initial Adam learning rate (default 0.002)
          --seed N            seed of the initial parameters and the shuffles (default 0)
          --data DIR          folder of the Fashion-MNIST files (default /usr/share/datasets/fashion-mnist)
          --output FILE       weight file (default models/fashion-classifier.safetensors)
          --quiet             no progress on standard error
          --help              show this text
        """

    static func run(_ arguments: [String]) throws {
        if arguments.contains("--help") {
            print(help)
            return
        }
        let options = try CommandLineOptions(
            command: "train-classifier", arguments: arguments,
            valued: ["epochs", "batch-size", "learning-rate", "seed", "data", "output"], boolean: ["quiet"])
        Log.isQuiet = options.flag("quiet")
        let configuration = ClassifierTrainingConfiguration(
            epochs: try options.int("epochs", default: 3, range: 1...1000),
            batchSize: try options.int("batch-size", default: 64, range: 1...100_000),
            learningRate: try options.double("learning-rate", default: 2e-3, range: 1e-9...1),
            seed: UInt64(try options.int("seed", default: 0, range: 0...Int.max)))
        let directory = options.string("data").map { URL(fileURLWithPath: $0) } ?? FashionMNIST.defaultDirectory
        let output = URL(fileURLWithPath: options.string("output") ?? FashionClassifier<Float>.defaultWeightsPath)

        Log.info("loading the Fashion-MNIST prior-training split and the test set")
        let training = try FashionMNIST.load(.priorTraining, as: Float.self, paddedTo32: true, directory: directory)
        let test = try FashionMNIST.loadTestSet(as: Float.self, paddedTo32: true, directory: directory)

        let start = Date()
        let classifier = FashionClassifier<Float>.train(
            images: training.images, labels: training.labels, configuration: configuration
        ) { epoch, loss in
            Log.info(String(
                format: "epoch %d/%d  mean loss %.4f  %@ elapsed", epoch, configuration.epochs, loss,
                formatDuration(Date().timeIntervalSince(start))))
        }
        let seconds = Date().timeIntervalSince(start)

        let testAccuracy = classifier.accuracy(test.images, labels: test.labels)
        let evaluation = test.images.slice(alongAxis: 0, FashionMNIST.Split.evaluation.range)
        let evaluationAccuracy = classifier.accuracy(evaluation, labels: Array(test.labels[FashionMNIST.Split.evaluation.range]))

        let metadata = [
            "testAccuracy": String(format: "%.4f", testAccuracy),
            "evaluationSplitAccuracy": String(format: "%.4f", evaluationAccuracy),
            "training": String(decoding: try JSONEncoder().encode(configuration), as: UTF8.self),
            "data": "Fashion-MNIST training images 0..<59000 (prior-training split), padded to 32x32, in [-1, 1]",
            "command": "deft train-classifier " + arguments.joined(separator: " "),
        ]
        try FileManager.default.createDirectory(at: output.deletingLastPathComponent(), withIntermediateDirectories: true)
        try classifier.write(to: output, metadata: metadata)

        print(String(format: "trained %d parameters for %d epochs in %@", classifier.parameterCount, configuration.epochs, formatDuration(seconds)))
        print(String(format: "top-1 accuracy: %.2f %% on the 10000 test images, %.2f %% on the evaluation split (test 0..<1000)",
                     100 * testAccuracy, 100 * evaluationAccuracy))
        print("wrote \(output.path)")
    }
}
