import Foundation
import Imaging
import SDECore
import Tensors
import XCTest

final class SingularValueDecompositionTests: XCTestCase {
    private struct SVDCase {
        var name: String
        var model: any SingularValueObservationModel<Double>
        var inputShape: [Int]
    }

    private func cases() -> [SVDCase] {
        var generator = PhiloxRandom(seed: 21, stream: 0)
        let boxes: Tensor<Double> = InpaintingMask.randomBoxes(count: 3, height: 6, width: 9, boxHeight: 2, boxWidth: 5, using: &generator)
        let pixels: Tensor<Double> = InpaintingMask.randomPixels(count: 3, height: 6, width: 9, observedFraction: 0.25, using: &generator)
        return [
            SVDCase(name: "inpainting, per-element boxes", model: InpaintingOperator(mask: boxes, noiseStandardDeviation: 0.1), inputShape: [3, 1, 6, 9]),
            SVDCase(name: "inpainting, per-element pixels, 2 channels", model: InpaintingOperator(mask: pixels, channels: 2, noiseStandardDeviation: 0.1), inputShape: [3, 2, 6, 9]),
            SVDCase(name: "4× super-resolution 32×48", model: SuperResolutionOperator(factor: 4, height: 32, width: 48, noiseStandardDeviation: 0.1), inputShape: [3, 1, 32, 48]),
            SVDCase(name: "3× super-resolution 6×9, 2 channels", model: SuperResolutionOperator(factor: 3, height: 6, width: 9, channels: 2, noiseStandardDeviation: 0.1), inputShape: [3, 2, 6, 9]),
            SVDCase(name: "blur, reflect", model: GaussianBlurOperator(kernelSize: 5, blurStandardDeviation: 1, padding: .reflect, height: 6, width: 9, noiseStandardDeviation: 0.1), inputShape: [3, 1, 6, 9]),
            SVDCase(name: "blur, zero padding, 2 channels", model: GaussianBlurOperator(kernelSize: 9, blurStandardDeviation: 2, padding: .zero, height: 8, width: 5, channels: 2, noiseStandardDeviation: 0.1), inputShape: [3, 2, 8, 5]),
        ]
    }

    /// U Σ (Vᵀ x)[:r] = A x: the decomposition reconstructs the operator.
    func testDecompositionReconstructsOperator() {
        for testCase in cases() {
            let model = testCase.model
            let x = testTensor(testCase.inputShape, seed: 22)
            let rank = model.singularValues.scalarCount
            let coordinates = model.applyVTranspose(x).slice(alongAxis: 1, 0..<rank)
            let reconstructed = model.applyU(coordinates * model.singularValues.reshaped(to: [1, rank]))
            let ax = withoutRecording { model.forward(Variable(x)).value }
            XCTAssertLessThan(relativeDifference(reconstructed, ax), 1e-12, testCase.name)
        }
    }

    /// V Vᵀ = I on the signal space and Uᵀ U = I on the first r coordinates.
    func testFactorsAreOrthogonal() {
        for testCase in cases() {
            let model = testCase.model
            let x = testTensor(testCase.inputShape, seed: 23)
            let signalDimension = testCase.inputShape.dropFirst().reduce(1, *)
            let vx = model.applyVTranspose(x)
            XCTAssertEqual(vx.shape, [testCase.inputShape[0], signalDimension], testCase.name)
            XCTAssertLessThan(relativeDifference(model.applyV(vx), x), 1e-12, testCase.name)
            // ‖Vᵀ x‖ = ‖x‖ checks that V has orthonormal columns, not just a left inverse.
            XCTAssertEqual(innerProduct(vx, vx), innerProduct(x, x), accuracy: 1e-10 * innerProduct(x, x), testCase.name)

            let rank = model.singularValues.scalarCount
            let z = testTensor([testCase.inputShape[0], rank], seed: 24)
            XCTAssertLessThan(relativeDifference(model.applyUTranspose(model.applyU(z)), z), 1e-12, testCase.name)
        }
    }

    func testSuperResolutionSingularValuesAreReciprocalFactor() {
        let model = SuperResolutionOperator<Double>(factor: 4, height: 32, width: 48, noiseStandardDeviation: 0)
        XCTAssertEqual(model.singularValues.shape, [8 * 12])
        for value in model.singularValues.scalars {
            XCTAssertEqual(value, 0.25, accuracy: 1e-13)
        }
    }

    func testInpaintingSingularValuesCountObservedPixels() {
        let mask: Tensor<Double> = InpaintingMask.box(height: 6, width: 9, top: 1, left: 2, boxHeight: 3, boxWidth: 4)
        let model = InpaintingOperator(mask: mask, channels: 2, noiseStandardDeviation: 0.1)
        XCTAssertEqual(model.singularValues.scalars, Array(repeating: 1, count: 2 * (54 - 12)))
    }

    /// The largest singular value equals ‖A‖₂ found independently by power iteration on
    /// AᵀA with the forward map and adjoint; reflect padding makes A non-symmetric with
    /// ‖A‖₂ > 1, so this is not the trivial value 1.
    func testBlurLargestSingularValueMatchesPowerIteration() {
        let model = GaussianBlurOperator<Double>(kernelSize: 5, blurStandardDeviation: 1, padding: .reflect, height: 6, width: 9, noiseStandardDeviation: 0)
        var vector = testTensor([1, 1, 6, 9], seed: 25)
        var eigenvalue = 0.0
        for _ in 0..<500 {
            let next = model.adjoint(withoutRecording { model.forward(Variable(vector)).value })
            eigenvalue = innerProduct(next, vector) / innerProduct(vector, vector)
            vector = next * (1 / innerProduct(next, next).squareRoot())
        }
        let values = model.singularValues.scalars
        XCTAssertEqual(values.max()!, eigenvalue.squareRoot(), accuracy: 1e-10)
        XCTAssertGreaterThan(values.max()!, 1)
        XCTAssertGreaterThan(values.min()!, 0)
    }
}
