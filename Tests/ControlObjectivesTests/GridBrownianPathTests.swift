import ControlObjectives
import SDECore
import Tensors
import XCTest

/// The grid Brownian path: reproducible, reversible and of the right variance.
final class GridBrownianPathTests: XCTestCase {
    /// Increments over the same step agree bit for bit whatever was queried before, the
    /// reversed query is the negation, and queries off the grid are not allowed (checked
    /// by reading the precondition, not run).
    func testIncrementsAreReproducibleAndReversible() {
        let grid = TimeGrid(points: [1, 0.6, 0.25, 0])
        let path = GridBrownianPath<Double>(grid: grid, shape: [3, 2], seed: 7)
        let first = path.increment(from: 0.6, to: 0.25).dW
        _ = path.increment(from: 1, to: 0.6)
        XCTAssertEqual(path.increment(from: 0.6, to: 0.25).dW, first)
        XCTAssertEqual(path.increment(from: 0.25, to: 0.6).dW, -first)
        XCTAssertNotEqual(path.increment(from: 1, to: 0.6).dW, path.increment(from: 0.25, to: 0).dW)
    }

    /// Over 100,000 draws of a step of length 0.35 the sample variance has relative
    /// standard error √(2/10⁵) ≈ 0.0045; the tolerance is 4 standard errors.
    func testIncrementVarianceIsStepLength() {
        let grid = TimeGrid(points: [1, 0.6, 0.25, 0])
        let path = GridBrownianPath<Double>(grid: grid, shape: [50_000, 2], seed: 3)
        let dW = path.increment(from: 0.6, to: 0.25).dW
        let variance = (dW * dW).mean()
        XCTAssertEqual(variance, 0.35, accuracy: 0.35 * 4 * (2.0 / 100_000).squareRoot())
        XCTAssertEqual(dW.mean(), 0, accuracy: 4 * (0.35 / 100_000).squareRoot())
    }
}
