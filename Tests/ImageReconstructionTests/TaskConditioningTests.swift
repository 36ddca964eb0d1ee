import ImageReconstruction
import Imaging
import SDECore
import Tensors
import XCTest

/// The h-network's feature images against the operators they come from.
final class TaskConditioningTests: XCTestCase {
    func testCTFeatureIsOperatorPseudoInverse() throws {
        // CT's A⁺y feature runs the task's 30 CGLS iterations in the singular basis. The
        // reference is the Radon transform's own CGLS in Double. After 30 steps CG has
        // amplified rounding. On these images the Float Radon CGLS, which the feature
        // replaces, is off by 4.8 % of the largest pixel, and the spectral one by 1.1 %
        // (its U and V are stored in Float). So the feature must be within 3 %, and no
        // further off than the Float Radon CGLS.
        let likelihood = ImagingTask.ct.observationModel(as: Float.self)
        let radon = try XCTUnwrap(likelihood as? RadonTransformOperator<Float>)
        let conditioning = TaskConditioning(task: .ct, likelihood: likelihood)
        var generator = PhiloxRandom(seed: 1)
        let x = Tensor<Float>.uniform(shape: [4, 1, 32, 32], lower: -1, upper: 1, using: &generator)
        let y = likelihood.sample(given: x, using: &generator)

        let features = try XCTUnwrap(conditioning.features(y))
        XCTAssertEqual(features.shape, [4, 1, 32, 32])
        let reference = try XCTUnwrap(ImagingTask.ct.observationModel(as: Double.self) as? RadonTransformOperator<Double>)
            .pseudoInverse(Tensor<Double>(y))
        let size = reference.scalars.map { Swift.abs($0) }.max()!
        let gap = zip(features.scalars, reference.scalars).map { Swift.abs(Double($0) - $1) }.max()!
        let floatGap = zip(radon.pseudoInverse(y).scalars, reference.scalars).map { Swift.abs(Double($0) - $1) }.max()!
        XCTAssertLessThan(gap, 0.03 * size, "spectral CGLS is \(gap) off at size \(size)")
        XCTAssertLessThanOrEqual(gap, floatGap, "the Float Radon CGLS is \(floatGap) off")
    }
}
