import Foundation
import Imaging
import SDECore
import Tensors

/// Deterministic test tensors with entries in [-1, 1], from a small linear congruential
/// generator, so the tests need nothing but the module under test.
func testTensor(_ shape: [Int], seed: UInt64 = 1) -> Tensor<Double> {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    let scalars = (0..<shape.reduce(1, *)).map { _ -> Double in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Double(state >> 11) / Double(1 << 53) * 2 - 1
    }
    return Tensor(shape: shape, scalars: scalars)
}

/// The inner product `⟨a, b⟩` accumulated in Double.
func innerProduct<Scalar: TensorScalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>) -> Double {
    precondition(a.shape == b.shape, "innerProduct: shapes \(a.shape) and \(b.shape) differ")
    return zip(a.scalars, b.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
}

/// `‖a − b‖ / ‖b‖`, accumulated in Double.
func relativeDifference<Scalar: TensorScalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>) -> Double {
    precondition(a.shape == b.shape, "relativeDifference: shapes \(a.shape) and \(b.shape) differ")
    var difference = 0.0
    var norm = 0.0
    for (x, y) in zip(a.scalars, b.scalars) {
        difference += (Double(x) - Double(y)) * (Double(x) - Double(y))
        norm += Double(y) * Double(y)
    }
    return (difference / norm).squareRoot()
}

/// A linear operator under test with the input shape it acts on.
struct LinearCase<Scalar: TensorScalar> {
    var name: String
    var model: any LinearObservationModel<Scalar>
    var inputShape: [Int]
}

/// Every linear operator, on non-square images, with batch 2; `noise` is σ_y.
func linearCases<Scalar: TensorScalar>(_ type: Scalar.Type, noise: Scalar) -> [LinearCase<Scalar>] {
    var generator = PhiloxRandom(seed: 7, stream: 0)
    let boxes: Tensor<Scalar> = InpaintingMask.randomBoxes(count: 2, height: 7, width: 10, boxHeight: 3, boxWidth: 4, using: &generator)
    let pixels: Tensor<Scalar> = InpaintingMask.randomPixels(count: 1, height: 7, width: 10, observedFraction: 0.3, using: &generator)
    return [
        LinearCase(name: "inpainting, per-element boxes", model: InpaintingOperator(mask: boxes, noiseStandardDeviation: noise), inputShape: [2, 1, 7, 10]),
        LinearCase(name: "inpainting, shared random pixels, 2 channels", model: InpaintingOperator(mask: pixels, channels: 2, noiseStandardDeviation: noise), inputShape: [2, 2, 7, 10]),
        LinearCase(name: "4× super-resolution 32×48", model: SuperResolutionOperator(factor: 4, height: 32, width: 48, noiseStandardDeviation: noise), inputShape: [2, 1, 32, 48]),
        LinearCase(name: "2× super-resolution 6×10, 2 channels", model: SuperResolutionOperator(factor: 2, height: 6, width: 10, channels: 2, noiseStandardDeviation: noise), inputShape: [2, 2, 6, 10]),
        LinearCase(name: "blur, reflect, 7×10", model: GaussianBlurOperator(kernelSize: 5, blurStandardDeviation: 1.2, padding: .reflect, height: 7, width: 10, noiseStandardDeviation: noise), inputShape: [2, 1, 7, 10]),
        LinearCase(name: "blur, zero padding, 9×6", model: GaussianBlurOperator(kernelSize: 7, blurStandardDeviation: 1.5, padding: .zero, height: 9, width: 6, noiseStandardDeviation: noise), inputShape: [2, 1, 9, 6]),
        LinearCase(name: "Radon, 9 angles, 7×10", model: RadonTransformOperator(height: 7, width: 10, angleCount: 9, noiseStandardDeviation: noise), inputShape: [2, 1, 7, 10]),
    ]
}
