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
}
