import Foundation
import Imaging
import NeuralNetworks
import Tensors
import XCTest

final class FashionClassifierTests: XCTestCase {
    func testCrossEntropyGradient() {
        let labels = [2, 0, 3]
        let check = checkGradients(at: [testTensor([3, 4], seed: 21) * 3]) { inputs in
            crossEntropy(logits: inputs[0], labels: labels)
        }
        XCTAssertLessThan(check.maxRelativeError, 1e-6, "\(check)")
    }

    func testCrossEntropyValue() {
        // Logits (0, ln 3) with label 1: softmax = (1/4, 3/4), so the loss is −ln(3/4).
        // Logits (1000, 0) with label 0: softmax ≈ (1, e⁻¹⁰⁰⁰), a loss of 0 without overflow.
        let logits = Variable(Tensor<Double>(shape: [2, 2], scalars: [0, log(3), 1000, 0]))
        let loss = crossEntropy(logits: logits, labels: [1, 0]).value.scalar
        XCTAssertEqual(loss, -log(0.75) / 2, accuracy: 1e-14)
    }

    func testClassifierGradient() {
        // The whole network on two images, with respect to the biases of the last
        // convolution and of the output layer: every layer lies on the path to the first.
        // Each layer's own operations have finite-difference tests of their own.
        var generator = PhiloxRandom(seed: 3)
        let classifier = FashionClassifier<Double>(using: &generator)
        let images = Variable(testTensor([2, 1, 32, 32], seed: 4))
        let check = checkGradients(at: [], parameters: [classifier.conv3.bias!, classifier.output.bias!]) { _ in
            crossEntropy(logits: classifier.logits(images), labels: [7, 1])
        }
        XCTAssertLessThan(check.maxRelativeError, 1e-6, "\(check)")
    }

    func testPredictionsAndWeightFileRoundTrip() throws {
        var generator = PhiloxRandom(seed: 5)
        let classifier = FashionClassifier<Float>(using: &generator)
        XCTAssertEqual(classifier.parameterCount, 32 * 9 + 32 + 64 * 32 * 9 + 64 + 64 * 64 * 9 + 64 + 1024 * 10 + 10)

        let images = Tensor<Float>(shape: [7, 1, 32, 32], scalars: testTensor([7, 1, 32, 32], seed: 6).scalars.map { Float($0) })
        let predicted = classifier.predictedClasses(images, batchSize: 3)
        XCTAssertEqual(predicted.count, 7)
        XCTAssertTrue(predicted.allSatisfy { (0..<10).contains($0) })
        XCTAssertEqual(predicted, classifier.predictedClasses(images), "batching must not change predictions")

        let url = FileManager.default.temporaryDirectory.appendingPathComponent("classifier-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try classifier.write(to: url, metadata: ["testAccuracy": "0"])
        let loaded = try FashionClassifier<Float>(contentsOf: url)
        XCTAssertEqual(loaded.predictedClasses(images), predicted)
        XCTAssertEqual(loaded.conv2.weight.value.scalars, classifier.conv2.weight.value.scalars)
    }

    func testTrainingSeparatesSyntheticClasses() {
        // Class c is a bright square at one of 10 positions plus noise. Two epochs on 200
        // images must classify 100 fresh ones with at least 90 % accuracy (chance is 10 %).
        func dataset(count: Int, seed: UInt64) -> (Tensor<Float>, [Int]) {
            var generator = PhiloxRandom(seed: seed)
            var scalars = Tensor<Float>.normal(shape: [count, 1, 32, 32], standardDeviation: 0.3, using: &generator).scalars
            let labels = (0..<count).map { $0 % 10 }
            for (index, label) in labels.enumerated() {
                let (top, left) = (4 + 8 * (label / 5), 2 + 6 * (label % 5))
                for i in top..<(top + 6) {
                    for j in left..<(left + 5) {
                        scalars[index * 1024 + i * 32 + j] += 1.5
                    }
                }
            }
            return (Tensor(shape: [count, 1, 32, 32], scalars: scalars), labels)
        }
        let (images, labels) = dataset(count: 200, seed: 7)
        var losses: [Double] = []
        let classifier = FashionClassifier<Float>.train(
            images: images, labels: labels, configuration: ClassifierTrainingConfiguration(epochs: 2, batchSize: 20, learningRate: 2e-3, seed: 1)
        ) { _, loss in losses.append(loss) }
        XCTAssertEqual(losses.count, 2)
        XCTAssertLessThan(losses[1], losses[0])

        let (fresh, freshLabels) = dataset(count: 100, seed: 8)
        XCTAssertGreaterThanOrEqual(classifier.accuracy(fresh, labels: freshLabels), 0.9)
    }
}
