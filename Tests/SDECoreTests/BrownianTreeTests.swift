import Foundation
import SDECore
import Tensors
import XCTest

final class BrownianTreeTests: XCTestCase {
    func testRepeatedQueriesAgreeAndOrderIsIrrelevant() {
        let intervals: [(Double, Double)] = [(0.1, 0.37), (0.5, 0.5001), (0.0, 1.0), (0.73, 0.91), (0.2, 0.21), (0.37, 0.9)]
        for levyArea in [LevyArea.none, .spaceTime] {
            let first = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [3, 2], seed: 7, levyArea: levyArea)
            let second = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [3, 2], seed: 7, levyArea: levyArea)
            let inOrder = intervals.map { first.increment(from: $0.0, to: $0.1) }
            let reversedOrder = intervals.reversed().map { second.increment(from: $0.0, to: $0.1) }.reversed()
            for (a, b) in zip(inOrder, reversedOrder) {
                XCTAssertEqual(a.dW, b.dW)
                XCTAssertEqual(a.spaceTimeLevyArea, b.spaceTimeLevyArea)
            }
            // A second pass over the same tree repeats every bit.
            for (interval, original) in zip(intervals, inOrder) {
                XCTAssertEqual(first.increment(from: interval.0, to: interval.1).dW, original.dW)
            }
        }
    }

    func testSeedsGiveDifferentPaths() {
        let a = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [4, 1], seed: 1)
        let b = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [4, 1], seed: 2)
        XCTAssertNotEqual(a.increment(from: 0.2, to: 0.6).dW, b.increment(from: 0.2, to: 0.6).dW)
    }

    func testAdjacentIncrementsAddUp() {
        let tree = VirtualBrownianTree<Double>(from: -1, to: 2, shape: [5, 3], seed: 11, levyArea: .spaceTime)
        let (s, u, t) = (-0.3, 0.41, 1.77)
        let left = tree.increment(from: s, to: u)
        let right = tree.increment(from: u, to: t)
        let whole = tree.increment(from: s, to: t)
        // W values are O(1); rounding of the differences is a few ulps of 1.
        XCTAssertLessThan(maxAbsoluteDifference(left.dW + right.dW, whole.dW), 1e-13)

        // Chen's relation for space-time Lévy area: h H_st = h₁ H_su + h₂ H_ut + ½ (h₂ W_su − h₁ W_ut).
        let (h1, h2) = (u - s, t - u)
        let combined = (left.spaceTimeLevyArea! * h1 + right.spaceTimeLevyArea! * h2
            + (left.dW * h2 - right.dW * h1) * 0.5) / (h1 + h2)
        XCTAssertLessThan(maxAbsoluteDifference(combined, whole.spaceTimeLevyArea!), 1e-12)
    }

    func testReversedIntervalNegates() {
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [3, 2], seed: 5, levyArea: .spaceTime)
        let forward = tree.increment(from: 0.25, to: 0.8)
        let backward = tree.increment(from: 0.8, to: 0.25)
        XCTAssertEqual(backward.dW, -forward.dW)
        XCTAssertEqual(backward.spaceTimeLevyArea, forward.spaceTimeLevyArea)
        XCTAssertEqual(tree.increment(from: 0.4, to: 0.4).dW, Tensor(zeros: [3, 2]))
    }

    /// Moments over a batch of 20,000 paths. The standard error of a mean of N(0, h) over n
    /// draws is √(h/n); of a sample variance, h √(2/n); of a correlation, 1/√n. Each check
    /// allows 4.5 standard errors, so a correct path fails one with probability below 1e-5.
    func testIncrementsHaveBrownianMoments() {
        let n = 20_000
        let tree = VirtualBrownianTree<Double>(from: 0, to: 2, shape: [n, 1], seed: 3, levyArea: .spaceTime)
        // Non-dyadic end points exercise the interpolation inside leaves.
        let first = tree.increment(from: 0.1, to: 0.35)
        let second = tree.increment(from: 0.35, to: 1.3)
        for (increment, h) in [(first, 0.25), (second, 0.95)] {
            let w = increment.dW.scalars
            let hh = increment.spaceTimeLevyArea!.scalars
            let meanW = w.reduce(0, +) / Double(n)
            let varianceW = w.reduce(0) { $0 + $1 * $1 } / Double(n)
            let varianceH = hh.reduce(0) { $0 + $1 * $1 } / Double(n)
            XCTAssertEqual(meanW, 0, accuracy: 4.5 * (h / Double(n)).squareRoot())
            XCTAssertEqual(varianceW, h, accuracy: 4.5 * h * (2 / Double(n)).squareRoot())
            XCTAssertEqual(varianceH, h / 12, accuracy: 4.5 * h / 12 * (2 / Double(n)).squareRoot())
            XCTAssertEqual(correlation(w, hh), 0, accuracy: 4.5 / Double(n).squareRoot())
        }
        XCTAssertEqual(correlation(first.dW.scalars, second.dW.scalars), 0, accuracy: 4.5 / Double(n).squareRoot())
    }

    func testIncrementsStayDistinctNearTime4096() {
        let n = 4000
        for tolerance in [1e-3, 1e-6] {
            let tree = VirtualBrownianTree<Double>(from: 0, to: 4096, shape: [n, 1], seed: 9, tolerance: tolerance)
            let a = tree.increment(from: 4095.98, to: 4095.99)
            let b = tree.increment(from: 4095.99, to: 4096)
            XCTAssertNotEqual(a.dW, b.dW)
            XCTAssertTrue(a.dW.scalars.allSatisfy { $0 != 0 })
            // Variance 0.01 within 4.5 standard errors (0.01 √(2/n)).
            let variance = b.dW.scalars.reduce(0) { $0 + $1 * $1 } / Double(n)
            XCTAssertEqual(variance, 0.01, accuracy: 4.5 * 0.01 * (2 / Double(n)).squareRoot())
        }
        let floatTree = VirtualBrownianTree<Float>(from: 0, to: 4096, shape: [64, 2], seed: 9)
        let a = floatTree.increment(from: 4095.5, to: 4095.501)
        let b = floatTree.increment(from: 4095.501, to: 4095.502)
        XCTAssertNotEqual(a.dW, b.dW)
        XCTAssertTrue(a.dW.scalars.allSatisfy { $0 != 0 })
    }

    func testMemoryDoesNotGrowWithQueries() {
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [2, 2], seed: 4, tolerance: 1e-5)
        XCTAssertEqual(tree.depth, 17)  // ⌈log₂(1e5)⌉
        var generator = PhiloxRandom(seed: 1)
        for _ in 0..<500 {
            let s = generator.nextUniform()
            _ = tree.increment(from: s * 0.5, to: s)
        }
        XCTAssertLessThanOrEqual(tree.cachedNodeCount, tree.depth + 1)
    }

    func testTimeGridEndsExactlyAtT1() {
        let tenths = TimeGrid(from: 0, to: 1, dt: 0.1)
        XCTAssertEqual(tenths.stepCount, 10)
        XCTAssertEqual(tenths.t1, 1)
        XCTAssertEqual(tenths.points[3], 0.30000000000000004)

        let thirds = TimeGrid(from: 0, to: 1, dt: 0.3)
        XCTAssertEqual(thirds.stepCount, 4)
        XCTAssertEqual(thirds.points.last, 1)

        // A remainder of 0.5 % of dt merges into the last step instead of a near-zero step.
        let merged = TimeGrid(from: 0, to: 1.0005, dt: 0.1)
        XCTAssertEqual(merged.stepCount, 10)
        XCTAssertEqual(merged.points[10] - merged.points[9], 0.1005, accuracy: 1e-12)

        let backward = TimeGrid(from: 1, to: 0, dt: 0.25)
        XCTAssertEqual(backward.points, [1, 0.75, 0.5, 0.25, 0])

        let uniform = TimeGrid(from: 0, to: 0.7, steps: 7)
        XCTAssertEqual(uniform.points.last, 0.7)
        XCTAssertEqual(uniform.stepCount, 7)

        let withSaves = uniform.inserting([0.35, 0.2])
        XCTAssertEqual(withSaves.stepCount, 8)
        XCTAssertEqual(withSaves.index(of: 0.35), 4)
    }

    private func correlation(_ x: [Double], _ y: [Double]) -> Double {
        let n = Double(x.count)
        let mx = x.reduce(0, +) / n
        let my = y.reduce(0, +) / n
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for (a, b) in zip(x, y) {
            sxy += (a - mx) * (b - my)
            sxx += (a - mx) * (a - mx)
            syy += (b - my) * (b - my)
        }
        return sxy / (sxx * syy).squareRoot()
    }
}
