import Foundation
import Imaging
import NeuralNetworks
import SDECore
import Tensors
import XCTest

final class PriorTrainingTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("prior-training-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: folder)
    }

    /// Returns a U-Net of 8 and 16 channels for 8 × 8 images, so that a step takes milliseconds.
    private func tinyConfiguration(steps: Int = 5) -> PriorTrainingConfiguration {
        PriorTrainingConfiguration(
            architecture: PriorArchitecture(baseChannels: 8, channelMultipliers: [1, 2], groups: 4, imageSize: 8),
            steps: steps, batchSize: 4, learningRate: 1e-3, warmupSteps: 2, seed: 11)
    }

    private let images = Tensor<Float>(shape: [16, 1, 8, 8], scalars: testTensor([16, 1, 8, 8], seed: 5).scalars.map { Float($0) })

    /// Asserts that two trainers hold bit-identical parameters, averages, Adam moments, steps and losses.
    private func assertSameState(_ a: PriorTrainer, _ b: PriorTrainer, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.step, b.step, "step", file: file, line: line)
        XCTAssertEqual(a.losses, b.losses, "losses", file: file, line: line)
        for (index, (name, parameter)) in a.network.namedParameters.enumerated() {
            XCTAssertEqual(parameter.value.scalars, b.network.namedParameters[index].parameter.value.scalars, name, file: file, line: line)
            XCTAssertEqual(a.average.averages[index].scalars, b.average.averages[index].scalars, "average of \(name)", file: file, line: line)
            XCTAssertEqual(a.optimizer.state.firstMoments[index]?.scalars, b.optimizer.state.firstMoments[index]?.scalars, "m of \(name)", file: file, line: line)
            XCTAssertEqual(a.optimizer.state.secondMoments[index]?.scalars, b.optimizer.state.secondMoments[index]?.scalars, "v of \(name)", file: file, line: line)
        }
        XCTAssertEqual(a.optimizer.state.stepCounts, b.optimizer.state.stepCounts, "Adam step counts", file: file, line: line)
    }

    func testResumeMatchesUninterruptedRun() throws {
        let straight = PriorTrainer(configuration: tinyConfiguration(), images: images)
        try straight.train(until: 5, folder: nil, checkpointInterval: 1)

        // The interrupted run stops after 3 of its 5 configured steps, as if it were killed.
        let interrupted = PriorTrainer(configuration: tinyConfiguration(), images: images)
        try interrupted.train(until: 3, folder: folder, checkpointInterval: 3)
        let checkpoint = folder.appendingPathComponent(PriorTrainer.checkpointFileName)
        let resumed = try PriorTrainer(resumingFrom: checkpoint, configuration: tinyConfiguration(), images: images)
        XCTAssertEqual(resumed.step, 3)
        try resumed.train(until: 5, folder: folder, checkpointInterval: 3)

        assertSameState(straight, resumed)
        XCTAssertEqual(try PriorTrainer.checkpointContents(at: checkpoint).step, 5)
    }

    func testCheckpointRecordsRandomPosition() throws {
        let trainer = PriorTrainer(configuration: tinyConfiguration(), images: images)
        try trainer.train(until: 2, folder: folder, checkpointInterval: 2)
        let file = try SafeTensorsFile(contentsOf: folder.appendingPathComponent(PriorTrainer.checkpointFileName))
        XCTAssertEqual(file.metadata["step"], "2")
        XCTAssertTrue(file.metadata["rng"]?.hasSuffix("next s = 2") ?? false, "rng metadata: \(file.metadata["rng"] ?? "none")")
        XCTAssertEqual(try file.tensor("losses", as: Float.self).scalars, trainer.losses)
    }

    func testNonFiniteLossStopsAndKeepsCheckpoint() throws {
        let trainer = PriorTrainer(configuration: tinyConfiguration(), images: images)
        try trainer.train(until: 2, folder: folder, checkpointInterval: 1)
        let checkpoint = folder.appendingPathComponent(PriorTrainer.checkpointFileName)
        let before = try Data(contentsOf: checkpoint)
        let priorBefore = try Data(contentsOf: folder.appendingPathComponent(PriorTrainer.priorFileName))

        // Inject a NaN into the first convolution's weight: the next loss is NaN.
        let weight = try XCTUnwrap(trainer.network.parameter(named: "inputConv.weight"))
        var poisoned = weight.value
        poisoned.withUnsafeMutableBufferPointer { $0[0] = .nan }
        weight.value = poisoned

        XCTAssertThrowsError(try trainer.train(until: 4, folder: folder, checkpointInterval: 1)) { error in
            guard case let PriorTrainingError.nonFiniteLoss(step, loss)? = error as? PriorTrainingError else {
                return XCTFail("expected nonFiniteLoss, got \(error)")
            }
            XCTAssertEqual(step, 3)
            XCTAssertTrue(loss.isNaN)
        }
        XCTAssertEqual(trainer.step, 2, "the failed step must not count")
        XCTAssertEqual(try Data(contentsOf: checkpoint), before, "the last good checkpoint must be kept")
        XCTAssertEqual(try Data(contentsOf: folder.appendingPathComponent(PriorTrainer.priorFileName)), priorBefore)
    }

    func testNonFiniteParametersAreNotCheckpointed() throws {
        let trainer = PriorTrainer(configuration: tinyConfiguration(), images: images)
        try trainer.train(until: 1, folder: folder, checkpointInterval: 1)
        let checkpoint = folder.appendingPathComponent(PriorTrainer.checkpointFileName)
        let before = try Data(contentsOf: checkpoint)

        // An infinite bias of the output convolution leaves every loss so far finite, but
        // must never reach a checkpoint.
        let bias = try XCTUnwrap(trainer.network.parameter(named: "outputConv.bias"))
        bias.value = Tensor(shape: bias.shape, repeating: .infinity)
        XCTAssertThrowsError(try trainer.writeCheckpoint(to: checkpoint)) { error in
            guard case let PriorTrainingError.nonFiniteParameter(_, name)? = error as? PriorTrainingError else {
                return XCTFail("expected nonFiniteParameter, got \(error)")
            }
            XCTAssertEqual(name, "outputConv.bias")
        }
        XCTAssertEqual(try Data(contentsOf: checkpoint), before)
    }

    func testResumeRejectsOtherArchitecture() throws {
        let trainer = PriorTrainer(configuration: tinyConfiguration(), images: images)
        try trainer.train(until: 1, folder: folder, checkpointInterval: 1)
        var other = tinyConfiguration()
        other.architecture.baseChannels = 16
        XCTAssertThrowsError(try PriorTrainer(
            resumingFrom: folder.appendingPathComponent(PriorTrainer.checkpointFileName), configuration: other, images: images))
    }

    func testPriorFileRoundTrip() throws {
        let trainer = PriorTrainer(configuration: tinyConfiguration(), images: images)
        try trainer.train(until: 2, folder: folder, checkpointInterval: 2, priorMetadata: ["data": "synthetic"])
        let loaded = try UNetNoisePredictor<Float>(contentsOf: folder.appendingPathComponent(PriorTrainer.priorFileName))
        XCTAssertEqual(loaded.architecture, trainer.configuration.architecture)

        // The file contains the averaged parameters, so the loaded model predicts what the average does.
        let x = Tensor<Float>(shape: [2, 1, 8, 8], scalars: testTensor([2, 1, 8, 8], seed: 9).scalars.map { Float($0) })
        let t = Tensor<Float>([10, 900])
        let expected = trainer.averagedPredictor().predictNoise(x, at: t)
        XCTAssertEqual(loaded.predictNoise(x, at: t).scalars, expected.scalars)
        XCTAssertNotEqual(trainer.predictor.predictNoise(x, at: t).scalars, expected.scalars, "the average must differ from the trained values")
    }

    func testLossDecreasesOnFixedImages() throws {
        // Two constant images: the loss falls well below its initial value of about 1 in 60 steps.
        let scalars = [Float](repeating: -0.5, count: 64) + [Float](repeating: 0.5, count: 64)
        let constant = Tensor<Float>(shape: [2, 1, 8, 8], scalars: scalars)
        var configuration = tinyConfiguration(steps: 60)
        configuration.batchSize = 16
        let trainer = PriorTrainer(configuration: configuration, images: constant)
        try trainer.train(until: 60, folder: nil, checkpointInterval: 60)
        let first = trainer.losses.prefix(5).reduce(0, +) / 5
        let last = trainer.losses.suffix(10).reduce(0, +) / 10
        XCTAssertLessThan(last, 0.6 * first, "mean loss of the first 5 steps \(first), of the last 10 \(last)")
    }
}
