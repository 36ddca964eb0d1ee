import XCTest
import Tensors

final class PhiloxTests: XCTestCase {
    /// Known-answer vectors of Philox-4×32-10 from the Random123 distribution (kat_vectors).
    func testKnownAnswerVectors() {
        let zero = PhiloxRandom.block(seed: 0, stream: 0, position: 0)
        XCTAssertEqual([zero.0, zero.1, zero.2, zero.3], [0x6627_E8D5, 0xE169_C58D, 0xBC57_AC4C, 0x9B00_DBD8])

        let ones = PhiloxRandom.block(seed: UInt64.max, stream: UInt64.max, position: UInt64.max)
        XCTAssertEqual([ones.0, ones.1, ones.2, ones.3], [0x408F_276D, 0x41C8_3B0E, 0xA20B_C7C6, 0x6D54_51FD])

        // Counter (0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), key (0xa4093822, 0x299f31d0).
        let pi = PhiloxRandom.block(
            seed: 0x299F_31D0_A409_3822, stream: 0x0370_7344_1319_8A2E, position: 0x85A3_08D3_243F_6A88)
        XCTAssertEqual([pi.0, pi.1, pi.2, pi.3], [0xD16C_FE09, 0x94FD_CCEB, 0x5001_E420, 0x2412_6EA1])
    }

    func testSameSeedSameBits() {
        var a = PhiloxRandom(seed: 42)
        var b = PhiloxRandom(seed: 42)
        let x = Tensor<Float>.normal(shape: [1000], using: &a)
        let y = Tensor<Float>.normal(shape: [1000], using: &b)
        XCTAssertEqual(x, y)
        XCTAssertEqual(a.next(), b.next())
    }

    /// A fill large enough to run on several threads gives the same bits as the same
    /// positions drawn one block at a time on one thread.
    func testParallelFillMatchesSequentialBlocks() {
        var generator = PhiloxRandom(seed: 7, stream: 3)
        let count = 200_001
        let filled = Tensor<Double>.normal(shape: [count], using: &generator).scalars
        for index in stride(from: 0, to: count, by: 20_000) {
            // Element 2k is the first normal of block k.
            var probe = PhiloxRandom(seed: 7, stream: 3)
            for _ in 0..<(index / 2) { _ = probe.nextNormal() }
            XCTAssertEqual(filled[index], probe.nextNormal())
        }
        XCTAssertEqual(generator.position, UInt64((count + 1) / 2))
    }

    func testSplitStreamsDiffer() {
        let parent = PhiloxRandom(seed: 1)
        var a = parent.split(0)
        var b = parent.split(1)
        var again = PhiloxRandom(seed: 1).split(0)
        XCTAssertNotEqual(a.next(), b.next())
        var fromParent = parent.split(0)
        XCTAssertEqual(again.next(), fromParent.next())
    }

    /// Mean and variance of 10⁶ normals: standard errors are 1e-3 and 1.4e-3, so 5e-3
    /// is more than three standard errors.
    func testNormalMoments() {
        var generator = PhiloxRandom(seed: 2024)
        let x = Tensor<Double>.normal(shape: [1_000_000], using: &generator)
        let mean = x.mean()
        let variance = (x * x).mean() - mean * mean
        XCTAssertEqual(mean, 0, accuracy: 5e-3)
        XCTAssertEqual(variance, 1, accuracy: 5e-3)
        let u = Tensor<Double>.uniform(shape: [1_000_000], using: &generator)
        XCTAssertEqual(u.mean(), 0.5, accuracy: 1.5e-3)
        XCTAssertGreaterThanOrEqual(u.scalars.min()!, 0)
        XCTAssertLessThan(u.scalars.max()!, 1)
    }

    /// A standard deviation scales the standard draws of the same generator bit for bit,
    /// and a mean is added after the scaling.
    func testScaledNormalsMatchScaledStandardDraws() {
        for count in [9, 50_000] {
            var standardGenerator = PhiloxRandom(seed: 8, stream: 3)
            var scaledGenerator = PhiloxRandom(seed: 8, stream: 3)
            let standard = Tensor<Float>.normal(shape: [count], using: &standardGenerator)
            let scaled = Tensor<Float>.normal(shape: [count], standardDeviation: 0.25, using: &scaledGenerator)
            XCTAssertEqual(scaled, standard * Float(0.25), "\(count) draws")

            let shifted = Tensor<Float>.normal(shape: [count], mean: 2, standardDeviation: 0.25, using: &scaledGenerator)
            let reference = Tensor<Float>.normal(shape: [count], using: &standardGenerator) * Float(0.25) + Float(2)
            XCTAssertEqual(shifted, reference, "\(count) draws with a mean")
        }
    }

    /// Float draws run Box–Muller in Float on the same blocks as the Double draws, with
    /// uniforms equal to a relative 2⁻²³. Draws reach about 5, where a Float ulp is 4.8e-7,
    /// so a few rounding errors stay below 1e-5 (1.9e-6 measured), while a wrong block,
    /// word or quadrant moves a draw by O(1).
    func testFloatNormalsMatchRoundedDoubleDraws() {
        let count = 300_001
        var floatGenerator = PhiloxRandom(seed: 11, stream: 5)
        var doubleGenerator = PhiloxRandom(seed: 11, stream: 5)
        let floats = Tensor<Float>.normal(shape: [count], using: &floatGenerator).scalars
        let doubles = Tensor<Double>.normal(shape: [count], using: &doubleGenerator).scalars

        var maximumDifference = 0.0
        var totalDifference = 0.0
        for (float, double) in zip(floats, doubles) {
            let difference = Swift.abs(Double(float) - double)
            maximumDifference = Swift.max(maximumDifference, difference)
            totalDifference += difference
        }
        XCTAssertLessThan(maximumDifference, 1e-5)
        // A typical draw differs by a few Float rounding errors of numbers near 1.
        XCTAssertLessThan(totalDifference / Double(count), 1e-6)
        XCTAssertEqual(floatGenerator.position, doubleGenerator.position)
    }

    /// A Float fill large enough to split across threads gives the same bits as the same
    /// blocks filled in pieces of 1,000 draws (500 blocks) on one thread.
    func testParallelFloatFillMatchesPieces() {
        var whole = PhiloxRandom(seed: 3, stream: 9)
        let filled = Tensor<Float>.normal(shape: [300_000], using: &whole).scalars
        var pieces = PhiloxRandom(seed: 3, stream: 9)
        var concatenated: [Float] = []
        for _ in 0..<300 {
            concatenated += Tensor<Float>.normal(shape: [1000], using: &pieces).scalars
        }
        XCTAssertEqual(filled, concatenated)
        XCTAssertEqual(whole.position, pieces.position)
    }

    /// Moments and the Kolmogorov–Smirnov distance of 10⁶ Float normals. Standard errors:
    /// 1e-3 for the mean, 1.4e-3 for the variance and 9.8e-3 for E x⁴ = 3 (its variance is
    /// 105 − 9 = 96), so the tolerances are five standard errors. The KS bound 1.63/√n is
    /// the 1 % critical value.
    func testFloatNormalMomentsAndDistribution() {
        var generator = PhiloxRandom(seed: 2025)
        let count = 1_000_000
        let x = Tensor<Float>.normal(shape: [count], using: &generator).scalars.map(Double.init)
        let mean = x.reduce(0, +) / Double(count)
        let variance = x.reduce(0) { $0 + $1 * $1 } / Double(count) - mean * mean
        let fourthMoment = x.reduce(0) { $0 + $1 * $1 * $1 * $1 } / Double(count)
        XCTAssertEqual(mean, 0, accuracy: 5e-3)
        XCTAssertEqual(variance, 1, accuracy: 7e-3)
        XCTAssertEqual(fourthMoment, 3, accuracy: 0.05)

        var distance = 0.0
        for (index, value) in x.sorted().enumerated() {
            let normalCDF = 0.5 * erfc(-value / 2.0.squareRoot())
            distance = Swift.max(distance, Swift.abs(normalCDF - Double(index) / Double(count)))
            distance = Swift.max(distance, Swift.abs(normalCDF - Double(index + 1) / Double(count)))
        }
        XCTAssertLessThan(distance, 1.63 / Double(count).squareRoot())
    }
}
