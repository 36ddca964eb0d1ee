import Tensors
import XCTest

/// Deterministic test tensors with entries in [-1, 1], from a small linear congruential
/// generator, so the tests need nothing but the modules under test.
func testTensor(_ shape: [Int], seed: UInt64 = 1) -> Tensor<Double> {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    let scalars = (0..<shape.reduce(1, *)).map { _ -> Double in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Double(state >> 11) / Double(1 << 53) * 2 - 1
    }
    return Tensor(shape: shape, scalars: scalars)
}

/// The relative error below which a gradient check passes: in Double with the default
/// step, finite differences agree with a correct derivative to about 1e-9, while a wrong
/// derivative is off by far more than 1e-6.
let gradientTolerance = 1e-6

/// Asserts that `function`'s gradients with respect to `inputs` and `parameters` match
/// central finite differences.
func assertGradients(
    at inputs: [Tensor<Double>], parameters: [Variable<Double>] = [],
    file: StaticString = #filePath, line: UInt = #line,
    _ function: ([Variable<Double>]) -> Variable<Double>
) {
    let result = checkGradients(at: inputs, parameters: parameters, of: function)
    XCTAssertLessThan(result.maxRelativeError, gradientTolerance, "\(result)", file: file, line: line)
}

/// Asserts that two tensors have the same shape and agree element-wise within `tolerance`.
func assertClose<Scalar: TensorScalar>(
    _ actual: Tensor<Scalar>, _ expected: Tensor<Scalar>, tolerance: Double,
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(actual.shape, expected.shape, "shapes differ", file: file, line: line)
    let worst = zip(actual.scalars, expected.scalars).map { abs(Double($0) - Double($1)) }.max() ?? 0
    XCTAssertLessThanOrEqual(worst, tolerance, "max |actual - expected| = \(worst)", file: file, line: line)
}
