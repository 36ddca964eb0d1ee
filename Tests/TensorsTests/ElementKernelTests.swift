import Foundation
import XCTest
import Tensors

/// The Float activations and their pullbacks, which run as C compiled for the CPU's
/// vector width when the operands are contiguous, against Double references and against
/// the Swift loops that broadcast operands take.
final class ElementKernelTests: XCTestCase {
    /// Inputs over [-12, 12], past the clamp of the tanh approximation at ±9, including zero.
    private let inputs = (0..<24001).map { Float(-12 + Double($0) * 0.001) }

    private func logistic(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }

    /// The tanh approximation is within 3.3e-7 of tanh (see `testFloatTanhApproximation`),
    /// so σ(x) = ½ (1 + tanh(x/2)) is within about 2.5e-7 plus a rounding, and x σ(x)
    /// within |x| times that. The bound 4e-7 · (1 + |x|) covers all three.
    func testFloatActivationsMatchDouble() {
        let x = Tensor<Float>(inputs)
        let cases: [(String, Tensor<Float>, (Double) -> Double)] = [
            ("tanh", tanh(x), { Foundation.tanh($0) }),
            ("sigmoid", sigmoid(x), { self.logistic($0) }),
            ("silu", silu(x), { $0 * self.logistic($0) }),
        ]
        for (name, result, reference) in cases {
            for (value, input) in zip(result.scalars, inputs) {
                let tolerance = 4e-7 * (1 + Swift.abs(Double(input)))
                XCTAssertEqual(Double(value), reference(Double(input)), accuracy: tolerance, "\(name) at \(input)")
            }
        }
    }

    /// Each pullback is dy times a derivative built from σ(x) with terms up to |x| σ, so
    /// its error is about |dy| (1 + |x|) times that of σ: the bound is 4e-7 · |dy| (1 + |x|).
    func testFloatActivationPullbacksMatchDouble() {
        let x = Tensor<Float>(inputs)
        let dy = Tensor<Float>(inputs.map { 0.5 + $0 / 24 })
        let cases: [(BinaryFunction, (Double) -> Double)] = [
            (.siluBackward, { self.logistic($0) * (1 + $0 * (1 - self.logistic($0))) }),
            (.sigmoidBackward, { self.logistic($0) * (1 - self.logistic($0)) }),
            (.softplusBackward, { self.logistic($0) }),
        ]
        for (function, derivative) in cases {
            let result = x.applying(function, dy).scalars
            for index in stride(from: 0, to: inputs.count, by: 7) {
                let (input, cotangent) = (Double(inputs[index]), Double(dy.scalars[index]))
                let tolerance = 4e-7 * Swift.abs(cotangent) * (1 + Swift.abs(input)) + 1e-12
                XCTAssertEqual(Double(result[index]), cotangent * derivative(input), accuracy: tolerance, "\(function) at \(input)")
            }
        }
    }

    /// Contiguous operands (C kernels) and a broadcast cotangent (Swift loops) give the same bits.
    func testContiguousAndBroadcastPullbacksAgree() {
        let x = Tensor<Float>(inputs)
        for cotangent: Float in [1, -0.75] {
            let broadcast = Tensor<Float>(shape: [1], scalars: [cotangent])
            let repeated = Tensor<Float>(shape: [inputs.count], repeating: cotangent)
            for function in [BinaryFunction.siluBackward, .sigmoidBackward, .softplusBackward] {
                XCTAssertEqual(x.applying(function, repeated).scalars, x.applying(function, broadcast).scalars, "\(function)")
            }
        }
    }

    /// The kernels run 16 elements at a time and the rest one by one: every element has
    /// the bits of the same input evaluated alone, whatever its position.
    func testVectorAndSingleElementPathsAgree() {
        let x = Tensor<Float>(Array(inputs[0..<1003]))
        let dy = Tensor<Float>(inputs[0..<1003].map { 0.5 + $0 / 24 })
        let unary: [(String, (Tensor<Float>) -> Tensor<Float>)] = [("tanh", tanh), ("sigmoid", sigmoid), ("silu", silu)]
        for (name, function) in unary {
            let batch = function(x).scalars
            for index in [0, 15, 16, 17, 999, 1000, 1002] {
                XCTAssertEqual(batch[index], function(Tensor([x.scalars[index]])).scalars[0], "\(name) at element \(index)")
            }
        }
        for function in [BinaryFunction.siluBackward, .sigmoidBackward, .softplusBackward] {
            let batch = x.applying(function, dy).scalars
            for index in [0, 15, 16, 17, 999, 1000, 1002] {
                let alone = Tensor([x.scalars[index]]).applying(function, Tensor([dy.scalars[index]])).scalars[0]
                XCTAssertEqual(batch[index], alone, "\(function) at element \(index)")
            }
        }
    }

    /// A NaN input gives NaN in the vector lanes and in the single-element tail.
    func testActivationsPropagateNaN() {
        let x = Tensor<Float>(shape: [17], repeating: .nan)
        for (name, result) in [("tanh", tanh(x)), ("sigmoid", sigmoid(x)), ("silu", silu(x))] {
            XCTAssertTrue(result.scalars.allSatisfy(\.isNaN), name)
        }
    }

    /// Operations on more than 2¹⁷ elements are split across the cores; the results must
    /// equal those of the same operation on each row alone, which runs on one thread.
    func testParallelElementwiseMatchesRows() {
        let x = Tensor<Float>(testTensor([40, 8000], seed: 5))
        let bias = Tensor<Float>(testTensor([8000], seed: 6))
        let sum = x + bias
        let activated = silu(x)
        for row in [0, 17, 39] {
            let xRow = x.slice(alongAxis: 0, row..<(row + 1)).reshaped(to: [8000])
            XCTAssertEqual(sum.slice(alongAxis: 0, row..<(row + 1)).scalars, (xRow + bias).scalars)
            XCTAssertEqual(activated.slice(alongAxis: 0, row..<(row + 1)).scalars, silu(xRow).scalars)
        }
    }
}
