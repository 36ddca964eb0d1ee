import NeuralNetworks
import XCTest

/// Each schedule at chosen steps, against values worked out by hand.
final class LearningRateScheduleTests: XCTestCase {
    func testConstant() {
        let schedule = ConstantLearningRate(3e-4)
        XCTAssertEqual(schedule.learningRate(atStep: 0), 3e-4)
        XCTAssertEqual(schedule.learningRate(atStep: 1_000_000), 3e-4)
    }

    func testLinearDecay() {
        let schedule = LinearDecay(initialRate: 1, finalRate: 0.1, decaySteps: 10)
        XCTAssertEqual(schedule.learningRate(atStep: 0), 1, accuracy: 1e-15)
        XCTAssertEqual(schedule.learningRate(atStep: 5), 0.55, accuracy: 1e-15)
        XCTAssertEqual(schedule.learningRate(atStep: 10), 0.1, accuracy: 1e-15)
        XCTAssertEqual(schedule.learningRate(atStep: 25), 0.1, accuracy: 1e-15)
    }

    func testCosineDecay() {
        let schedule = CosineDecay(initialRate: 1, decaySteps: 10)
        XCTAssertEqual(schedule.learningRate(atStep: 0), 1, accuracy: 1e-15)
        // ½ (1 + cos(0.2π)) = ½ (1 + 0.8090169943749474).
        XCTAssertEqual(schedule.learningRate(atStep: 2), 0.9045084971874737, accuracy: 1e-15)
        XCTAssertEqual(schedule.learningRate(atStep: 5), 0.5, accuracy: 1e-15)
        XCTAssertEqual(schedule.learningRate(atStep: 10), 0, accuracy: 1e-15)
        XCTAssertEqual(schedule.learningRate(atStep: 11), 0, accuracy: 1e-15)

        let floored = CosineDecay(initialRate: 1, finalRate: 0.2, decaySteps: 10)
        XCTAssertEqual(floored.learningRate(atStep: 5), 0.6, accuracy: 1e-15)
        XCTAssertEqual(floored.learningRate(atStep: 10), 0.2, accuracy: 1e-15)
    }

    func testLinearWarmupInFrontOfCosine() {
        let schedule = CosineDecay(initialRate: 1, decaySteps: 10).withLinearWarmup(steps: 4)
        XCTAssertEqual(schedule.learningRate(atStep: 0), 0.25, accuracy: 1e-15)
        XCTAssertEqual(schedule.learningRate(atStep: 1), 0.5, accuracy: 1e-15)
        XCTAssertEqual(schedule.learningRate(atStep: 3), 1, accuracy: 1e-15)
        // After the warm-up the cosine starts from its own step 0.
        XCTAssertEqual(schedule.learningRate(atStep: 4), 1, accuracy: 1e-15)
        XCTAssertEqual(schedule.learningRate(atStep: 9), 0.5, accuracy: 1e-15)
        XCTAssertEqual(schedule.learningRate(atStep: 14), 0, accuracy: 1e-15)
    }

    func testLinearWarmupInFrontOfConstant() {
        let schedule = LinearWarmup(warmupSteps: 5, then: ConstantLearningRate(2e-3))
        XCTAssertEqual(schedule.learningRate(atStep: 0), 4e-4, accuracy: 1e-18)
        XCTAssertEqual(schedule.learningRate(atStep: 4), 2e-3, accuracy: 1e-18)
        XCTAssertEqual(schedule.learningRate(atStep: 100), 2e-3, accuracy: 1e-18)
    }
}
