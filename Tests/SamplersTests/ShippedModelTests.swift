import Foundation
import Imaging
import SDECore
import Samplers
import Tensors
import XCTest

/// The prior and the classifier shipped in models/, loaded from the repository.
final class ShippedModelTests: XCTestCase {
    /// The repository's models/ folder, found from this file's path.
    private let models = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("models")

    func testShippedPriorDrawsImages() throws {
        let prior = try UNetNoisePredictor<Float>(contentsOf: models.appendingPathComponent("fashion-mnist-prior.safetensors"))
        XCTAssertEqual(prior.schedule.count, 1000)
        XCTAssertEqual(prior.architecture.imageSize, 32)

        var generator = PhiloxRandom(seed: 3)
        let initial = initialNoise(shape: [4, 1, 32, 32], as: Float.self, using: &generator)
        let samples = DDIMSampler(schedule: prior.schedule, steps: 10).sample(prior, from: initial, using: &generator)
        XCTAssertEqual(samples.shape, [4, 1, 32, 32])
        XCTAssertTrue(samples.scalars.allSatisfy(\.isFinite))

        // Images live in [−1, 1] with a black (−1) background: the samples must stay near
        // that range and be mostly dark, which noise or a diverged sampler would not be.
        let values = samples.scalars
        XCTAssertGreaterThan(values.min()!, -3)
        XCTAssertLessThan(values.max()!, 3)
        let inside = Double(values.filter { Swift.abs($0) <= 1.1 }.count) / Double(values.count)
        XCTAssertGreaterThan(inside, 0.9, "share of pixels within [−1.1, 1.1]")
        XCTAssertLessThan(samples.mean(), 0, "Fashion-MNIST images are mostly background at −1")
    }

    func testShippedClassifierAccuracy() throws {
        let classifier = try FashionClassifier<Float>(contentsOf: models.appendingPathComponent("fashion-classifier.safetensors"))
        guard FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory.path) else {
            throw XCTSkip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
        }
        let evaluation = try FashionMNIST.load(.evaluation, as: Float.self, paddedTo32: true)

        // 91.7 % was measured on these 1000 images when the weights were trained; the
        // standard error of a 1000-image accuracy near 0.9 is about 0.01.
        XCTAssertGreaterThan(classifier.accuracy(evaluation.images, labels: evaluation.labels), 0.88)
    }
}
