import XCTest
import Tensors

/// Every differentiable operation against central finite differences in Double; a
/// relative error of 1e-6 separates rounding (about 1e-10 here) from a wrong derivative.
final class GradientTests: XCTestCase {
    let tolerance = 1e-6

    func assertGradients(
        _ inputs: [Tensor<Double>], file: StaticString = #filePath, line: UInt = #line,
        _ function: ([Variable<Double>]) -> Variable<Double>
    ) {
        let result = checkGradients(at: inputs, of: function)
        XCTAssertLessThan(result.maxRelativeError, tolerance, "\(result)", file: file, line: line)
    }

    func testArithmeticWithBroadcasting() {
        let a = testTensor([3, 4])
        let b = testTensor([4], seed: 2)
        let c = testTensor([3, 1], seed: 3) + 2
        assertGradients([a, b]) { $0[0] + $0[1] }
        assertGradients([a, b]) { $0[0] - $0[1] }
        assertGradients([a, b]) { $0[0] * $0[1] }
        assertGradients([a, c]) { $0[0] / $0[1] }
        assertGradients([a]) { -$0[0] * 3 + 1 }
    }

    func testElementwiseFunctions() {
        let x = testTensor([2, 5]) * 2
        let positive = testTensor([2, 5], seed: 4) + 1.5
        assertGradients([x]) { exp($0[0]) }
        assertGradients([positive]) { log($0[0]) }
        assertGradients([positive]) { sqrt($0[0]) }
        assertGradients([x]) { square($0[0]) }
        assertGradients([x]) { tanh($0[0]) }
        assertGradients([x]) { sigmoid($0[0]) }
        assertGradients([x]) { silu($0[0]) }
        assertGradients([x]) { softplus($0[0]) }
        assertGradients([x]) { sin($0[0]) }
        assertGradients([x]) { cos($0[0]) }
        // ReLU away from its kink at 0, where finite differences are undefined.
        assertGradients([x.applying(.abs) + 0.1]) { relu($0[0]) }
        assertGradients([-(x.applying(.abs)) - 0.1]) { relu($0[0]) + $0[0] }
    }

    func testReductionsAndShapes() {
        let x = testTensor([2, 3, 4])
        assertGradients([x]) { $0[0].sum() }
        assertGradients([x]) { $0[0].mean() }
        assertGradients([x]) { $0[0].sum(alongAxes: [0, 2]) }
        assertGradients([x]) { $0[0].mean(alongAxes: [1]) }
        assertGradients([x]) { $0[0].reshaped(to: [6, 4]) * $0[0].reshaped(to: [6, 4]) }
        assertGradients([x]) { $0[0].transposed(permutation: [2, 0, 1]) }
        assertGradients([x]) { $0[0].slice(alongAxis: 1, 1..<3) }
        assertGradients([x]) { $0[0].gathering(atIndices: [1, 0, 1]) }
        assertGradients([x, testTensor([2, 1, 4], seed: 5)]) { Variable.concatenate([$0[0], $0[1]], alongAxis: 1) }
    }

    func testMatmulAllTranspositions() {
        for (transposeA, transposeB) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = testTensor(transposeA ? [4, 3] : [3, 4])
            let b = testTensor(transposeB ? [5, 4] : [4, 5], seed: 7)
            assertGradients([a, b]) { matmul($0[0], $0[1], transposeA: transposeA, transposeB: transposeB) }
        }
    }

    func testBatchedMatmul() {
        let a = testTensor([2, 3, 4])
        let b = testTensor([2, 4, 5], seed: 8)
        let shared = testTensor([4, 5], seed: 9)
        let sharedTransposed = testTensor([5, 4], seed: 10)
        assertGradients([a, b]) { matmul($0[0], $0[1]) }
        assertGradients([a, shared]) { matmul($0[0], $0[1]) }
        assertGradients([a, sharedTransposed]) { matmul($0[0], $0[1], transposeB: true) }
        assertGradients([testTensor([2, 4, 3]), b]) { matmul($0[0], $0[1], transposeA: true) }
    }

    func testVariableUsedTwiceAccumulates() {
        let x = testTensor([3])
        assertGradients([x]) { x in tanh(x[0]) * x[0] + exp(x[0] * 0.5) }
    }

    func testBackwardAccumulatesIntoParameters() {
        let weight = Variable(Tensor<Double>([2, 3]), requiresGrad: true)
        let input = Variable(Tensor<Double>([5, 7]))
        (weight * input).sum().backward()
        XCTAssertEqual(weight.grad?.scalars, [5, 7])
        (weight * input).sum().backward()
        XCTAssertEqual(weight.grad?.scalars, [10, 14])
    }

    func testParameterVectorJacobianProduct() {
        let weight = Variable(testTensor([3, 2], seed: 11), requiresGrad: true)
        let result = checkGradients(at: [testTensor([4, 3])], parameters: [weight]) { x in
            tanh(matmul(x[0], weight))
        }
        XCTAssertLessThan(result.maxRelativeError, tolerance, "\(result)")
    }

    func testWithoutRecordingKeepsNoGraph() {
        let weight = Variable(Tensor<Double>([2]), requiresGrad: true)
        let output = withoutRecording { weight * 3 }
        XCTAssertFalse(output.requiresGrad)
        XCTAssertEqual(output.value.scalars, [6])
        let recorded = weight * 3
        XCTAssertTrue(recorded.requiresGrad)
    }

    func testDeepChainDoesNotOverflowStack() {
        var x = Variable(Tensor<Double>([1]), requiresGrad: true)
        let start = x
        for _ in 0..<100_000 { x = x * 1.0 }
        let gradient = gradients(of: x.sum(), withRespectTo: [start])
        XCTAssertEqual(gradient[0].scalars, [1])
    }
}
