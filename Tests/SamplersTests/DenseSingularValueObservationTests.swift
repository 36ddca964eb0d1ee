import GaussianOracle
import Imaging
import SDECore
import Samplers
import Tensors
import XCTest

/// The dense SVD wrapper against the operators it wraps, and the baselines' errors for
/// models they cannot use.
final class DenseSingularValueObservationTests: XCTestCase {
    private func maximumAbsoluteDifference(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
        XCTAssertEqual(a.shape, b.shape)
        return zip(a.scalars, b.scalars).map { Swift.abs($0 - $1) }.max() ?? 0
    }

    /// Returns `U Σ Vᵀ x` through the protocol's maps.
    private func spectralForward(_ model: DenseSingularValueObservation<Double>, _ x: Tensor<Double>) -> Tensor<Double> {
        let rank = model.singularValues.shape[0]
        let projected = model.applyVTranspose(x).slice(alongAxis: 1, 0..<rank)
        return model.applyU(projected * model.singularValues.reshaped(to: [1, rank]))
    }

    func testGaussianObservationFactors() throws {
        let a = Matrix([[1, 0.5, 0, -0.3], [0, 0.4, 1, 0.6]])
        let base = LinearGaussianObservation<Double>(operator: a, noiseStandardDeviation: 0.1)
        let model = try DenseSingularValueObservation(wrapping: base, signalShape: [4])
        XCTAssertEqual(model.singularValues.shape, [2])
        XCTAssertEqual(model.observationShape, [2])

        // Rounding in Double on a 2 × 4 matrix is about 1e-15.
        var generator = PhiloxRandom(seed: 1)
        let x = Tensor<Double>.normal(shape: [5, 4], using: &generator)
        let y = Tensor<Double>.normal(shape: [5, 2], using: &generator)
        let forward = withoutRecording { base.forward(Variable(x)).value }
        XCTAssertLessThan(maximumAbsoluteDifference(spectralForward(model, x), forward), 1e-12, "U Σ Vᵀ x ≠ A x")
        XCTAssertLessThan(maximumAbsoluteDifference(model.pseudoInverse(y), base.pseudoInverse(y)), 1e-12, "A⁺ y")

        // V and U are orthogonal: V Vᵀ x = x and Uᵀ U z = z.
        XCTAssertLessThan(maximumAbsoluteDifference(model.applyV(model.applyVTranspose(x)), x), 1e-12, "V Vᵀ ≠ I")
        let z = Tensor<Double>.normal(shape: [5, 2], using: &generator)
        XCTAssertLessThan(maximumAbsoluteDifference(model.applyUTranspose(model.applyU(z)), z), 1e-12, "Uᵀ U ≠ I")
    }

    func testRadonTransformFactors() throws {
        // CT on 12 × 12 images at 6 angles: m = 6 · 18 = 108 measurements of n = 144 pixels, so
        // at least 36 directions are unobserved. The operator's own CGLS pseudo-inverse, run to
        // a tight tolerance, is the reference.
        let base = RadonTransformOperator<Double>(
            height: 12, width: 12, angleCount: 6, noiseStandardDeviation: 0.1,
            pseudoInverseIterations: 2000, pseudoInverseTolerance: 1e-13)
        let model = try DenseSingularValueObservation(wrapping: base, signalShape: [1, 12, 12])
        XCTAssertEqual(model.observationShape, [1, 6, base.detectorCount])
        XCTAssertLessThanOrEqual(model.singularValues.shape[0], 6 * base.detectorCount)

        var generator = PhiloxRandom(seed: 2)
        let x = Tensor<Double>.normal(shape: [3, 1, 12, 12], using: &generator)
        let forward = base.project(x)
        let scale = forward.scalars.map { Swift.abs($0) }.max()!
        XCTAssertLessThan(maximumAbsoluteDifference(spectralForward(model, x), forward), 1e-10 * scale, "U Σ Vᵀ x ≠ A x")

        // The pseudo-inverse of a consistent observation: A A⁺ (A x) = A x, and A⁺ agrees with CGLS.
        let recovered = model.pseudoInverse(forward)
        XCTAssertLessThan(maximumAbsoluteDifference(base.project(recovered), forward), 1e-8 * scale, "A A⁺ A x ≠ A x")
        let iterative = base.pseudoInverse(forward)
        let size = recovered.scalars.map { Swift.abs($0) }.max()!
        XCTAssertLessThan(maximumAbsoluteDifference(recovered, iterative), 1e-6 * size, "SVD and CGLS pseudo-inverses differ")
    }

    func testSpectralCGLSMatchesOperatorCGLS() throws {
        // The Radon transform's own CGLS iterates, in Double, after 1, 5 and 30 steps, on
        // noisy observations (not in the range of A) of 12 × 12 images at 6 angles.
        var generator = PhiloxRandom(seed: 7)
        let x = Tensor<Double>.normal(shape: [3, 1, 12, 12], using: &generator)
        for iterations in [1, 5, 30] {
            let base = RadonTransformOperator<Double>(
                height: 12, width: 12, angleCount: 6, noiseStandardDeviation: 0.1,
                pseudoInverseIterations: iterations, pseudoInverseTolerance: 1e-6)
            let model = try DenseSingularValueObservation(wrapping: base, signalShape: [1, 12, 12])
            var noise = PhiloxRandom(seed: 8)
            let y = base.sample(given: x, using: &noise)
            let spectral = model.conjugateGradientLeastSquares(y, iterations: iterations, relativeTolerance: 1e-6)
            let iterative = base.pseudoInverse(y)
            let size = iterative.scalars.map { Swift.abs($0) }.max()!
            // CG amplifies rounding as it goes: after 5 steps the two agree to 3e-15 of the
            // size, after 30 to about 2e-4, far below what the feature's use needs.
            let tolerance = iterations <= 5 ? 1e-12 : 1e-3
            XCTAssertLessThan(maximumAbsoluteDifference(spectral, iterative), tolerance * size, "\(iterations) iterations")
        }

        // A loose tolerance stops both at the same step.
        let loose = RadonTransformOperator<Double>(
            height: 12, width: 12, angleCount: 6, noiseStandardDeviation: 0.1, pseudoInverseIterations: 200,
            pseudoInverseTolerance: 1e-2)
        let model = try DenseSingularValueObservation(wrapping: loose, signalShape: [1, 12, 12])
        let y = loose.project(x)
        let iterative = loose.pseudoInverse(y)
        let size = iterative.scalars.map { Swift.abs($0) }.max()!
        XCTAssertLessThan(
            maximumAbsoluteDifference(model.conjugateGradientLeastSquares(y, iterations: 200, relativeTolerance: 1e-2), iterative),
            1e-9 * size)
    }

    func testCTTaskFactors() throws {
        // The shipped CT task, 32 × 32 images at 16 angles, with A x checked on two images.
        let ct = try XCTUnwrap(ImagingTask.ct.observationModel(as: Double.self) as? RadonTransformOperator<Double>)
        let model = try DenseSingularValueObservation(wrapping: ct, signalShape: [1, 32, 32])
        XCTAssertEqual(model.signalCount, 1024)
        XCTAssertEqual(model.observationCount, 16 * ct.detectorCount)

        var generator = PhiloxRandom(seed: 6)
        let x = Tensor<Double>.normal(shape: [2, 1, 32, 32], using: &generator)
        let forward = ct.project(x)
        let scale = forward.scalars.map { Swift.abs($0) }.max()!
        XCTAssertLessThan(maximumAbsoluteDifference(spectralForward(model, x), forward), 1e-10 * scale, "U Σ Vᵀ x ≠ A x")
    }

    func testDDRMRejectsNonlinearModel() throws {
        let phase = PhaseRetrievalOperator<Double>(height: 4, width: 4, noiseStandardDeviation: 0.05)
        var generator = PhiloxRandom(seed: 3)
        let predictor = GaussianNoisePredictor<Double>(prior: .standard(dimension: 16), schedule: .linear())
        let sampler = DDRMSampler(schedule: .linear())
        XCTAssertFalse(sampler.supports(phase))
        XCTAssertThrowsError(
            try sampler.sample(
                predictor, observation: Tensor(zeros: [1, 1, 8, 8]), likelihood: phase, from: Tensor(zeros: [1, 1, 4, 4]),
                using: &generator)
        ) { error in
            let message = String(describing: error)
            XCTAssertTrue(message.contains("PhaseRetrievalOperator"), message)
            XCTAssertTrue(message.contains("not linear"), message)
        }
    }

    func testDDRMRejectsRadonTransformWithFix() throws {
        let radon = RadonTransformOperator<Double>(height: 4, width: 4, angleCount: 2, noiseStandardDeviation: 0.1)
        let sampler = DDRMSampler(schedule: .linear())
        XCTAssertFalse(sampler.supports(radon))
        var generator = PhiloxRandom(seed: 4)
        let predictor = GaussianNoisePredictor<Double>(prior: .standard(dimension: 16), schedule: .linear())
        XCTAssertThrowsError(
            try sampler.sample(
                predictor, observation: Tensor(zeros: [1, 1, 2, radon.detectorCount]), likelihood: radon,
                from: Tensor(zeros: [1, 1, 4, 4]), using: &generator)
        ) { error in
            let message = String(describing: error)
            XCTAssertTrue(message.contains("RadonTransformOperator"), message)
            XCTAssertTrue(message.contains("DenseSingularValueObservation"), message)
        }
        XCTAssertTrue(sampler.supports(try DenseSingularValueObservation(wrapping: radon, signalShape: [1, 4, 4])))
    }

    func testPiGDMNeedsNoiseForNonlinearModel() {
        let hdr = HighDynamicRangeOperator<Double>(noiseStandardDeviation: 0.05)
        XCTAssertFalse(PiGDMSampler(schedule: .linear()).supports(hdr))
        XCTAssertTrue(PiGDMSampler(schedule: .linear(), noiseStandardDeviation: 0.05).supports(hdr))

        var generator = PhiloxRandom(seed: 5)
        let predictor = GaussianNoisePredictor<Double>(prior: .standard(dimension: 4), schedule: .linear())
        XCTAssertThrowsError(
            try PiGDMSampler(schedule: .linear()).sample(
                predictor, observation: Tensor(zeros: [1, 4]), likelihood: hdr, from: Tensor(zeros: [1, 4]), using: &generator)
        ) { error in
            let message = String(describing: error)
            XCTAssertTrue(message.contains("HighDynamicRangeOperator"), message)
            XCTAssertTrue(message.contains("noiseStandardDeviation"), message)
        }
    }
}
