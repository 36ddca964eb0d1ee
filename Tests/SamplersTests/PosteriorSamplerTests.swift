import Foundation
import GaussianOracle
import SDECore
import Samplers
import Tensors
import XCTest

/// A 4-D Gaussian prior N(m, S) observed through a 2 × 4 operator with σ_y = 0.2, whose
/// posterior p(x₀ | y) is known in closed form.
struct PosteriorCase {
    static let mean = [0.5, -0.3, 0.2, 0.1]
    /// S = L Lᵀ + 0.2 I, correlated and well conditioned.
    static let covariance: Matrix = {
        let l = Matrix([[0.8, 0, 0, 0], [0.3, 0.6, 0, 0], [-0.2, 0.4, 0.7, 0], [0.1, -0.3, 0.2, 0.5]])
        return l * l.transposed + Matrix(identity: 4) * 0.2
    }()
    static let operatorMatrix = Matrix([[1, 0.5, 0, -0.3], [0, 0.4, 1, 0.6]])
    static let noiseStandardDeviation = 0.2
    /// The observation, fixed rather than drawn so that every test conditions on the same y.
    static let observation = [1.2, -0.4]

    static var prior: MultivariateNormal { try! MultivariateNormal(mean: mean, covariance: covariance) }

    static var likelihood: LinearGaussianObservation<Double> {
        LinearGaussianObservation(operator: operatorMatrix, noiseStandardDeviation: noiseStandardDeviation)
    }
}

/// The Gaussian oracle's observation seen only as an `ObservationModel`, so that the
/// samplers take their paths for nonlinear operators.
final class OpaqueObservation: ObservationModel {
    typealias Scalar = Double
    let base: LinearGaussianObservation<Double>

    init(_ base: LinearGaussianObservation<Double>) {
        self.base = base
    }

    func forward(_ x: Variable<Double>) -> Variable<Double> { base.forward(x) }

    func logLikelihood(of y: Tensor<Double>, given x: Variable<Double>) -> Variable<Double> {
        base.logLikelihood(of: y, given: x)
    }

    func sample(given x: Tensor<Double>, using generator: inout PhiloxRandom) -> Tensor<Double> {
        base.sample(given: x, using: &generator)
    }
}

/// Each baseline on the Gaussian oracle: the moments of its samples against the exact
/// posterior N(μ_π, P).
///
/// The baselines approximate p(x₀ | y), so each tolerance is set from the gap it was measured
/// to have (release build, the seeds below), plus 4 standard errors of the sample mean,
/// and stated next to the check. For scale: the conditioning moves the mean by
/// ‖μ_π − m‖ = 0.88, P's largest entry is 0.50, and without guidance the mean gap is about
/// 0.6. A sign flip of the guidance moves the mean by more than 0.6, so every tolerance
/// below rejects it.
final class PosteriorSamplerTests: XCTestCase {
    let schedule = DDPMSchedule.linear()

    private func predictor() -> GaussianNoisePredictor<Double> {
        GaussianNoisePredictor(prior: PosteriorCase.prior, schedule: schedule)
    }

    private var posterior: MultivariateNormal {
        GaussianDiffusionOracle(prior: PosteriorCase.prior, tilt: PosteriorCase.likelihood.tilt(observation: PosteriorCase.observation)).target
    }

    /// Draws `count` reconstructions of the fixed observation from N(0, I) starts.
    private func draw(
        _ sampler: some PosteriorSampler, likelihood: any ObservationModel<Double>, count: Int, seed: UInt64
    ) throws -> Tensor<Double> {
        var generator = PhiloxRandom(seed: seed)
        let initial = initialNoise(shape: [count, 4], as: Double.self, using: &generator)
        let y = Tensor<Double>(shape: [1, 2], scalars: PosteriorCase.observation) + Tensor(zeros: [count, 2])
        let samples = try sampler.sample(predictor(), observation: y, likelihood: likelihood, from: initial, using: &generator)
        XCTAssertEqual(samples.shape, [count, 4])
        return samples
    }

    /// Returns the largest coordinate gap of the sample mean to μ_π, that of the sample
    /// covariance to P, and the largest standard error of the sample mean.
    private func gaps(_ samples: Tensor<Double>) -> (mean: Double, covariance: Double, standardError: Double) {
        let moments = SampleMoments(samples)
        let mean = zip(moments.mean, posterior.mean).map { Swift.abs($0 - $1) }.max()!
        return (mean, (moments.covariance - posterior.covariance).maximumAbsoluteEntry, moments.meanStandardErrors.max()!)
    }

    func testDPSMatchesPosterior() throws {
        let samples = try draw(DPSSampler(schedule: schedule, scale: 1), likelihood: PosteriorCase.likelihood, count: 1000, seed: 1)
        let gap = gaps(samples)

        // Measured: mean gap 0.10 with standard error 0.024, covariance gap 0.26. DPS is biased
        // (its guidance ignores the covariance of x₀ given x_t), so the mean tolerance is 0.10 + 4 · 0.024 ≈ 0.2.
        XCTAssertLessThan(gap.mean, 0.2, "DPS mean")
        // The scale shapes the spread: measured covariance gaps are 0.06 at ζ = 0.5, 0.26 at 1,
        // 1.09 at 2 and 0.66 without guidance, so 0.45 rejects a doubled scale.
        XCTAssertLessThan(gap.covariance, 0.45, "DPS covariance")
    }

    func testPiGDMMatchesPosterior() throws {
        let dense = try DenseSingularValueObservation(wrapping: PosteriorCase.likelihood, signalShape: [4])
        let samples = try draw(PiGDMSampler(schedule: schedule), likelihood: dense, count: 2000, seed: 2)
        let gap = gaps(samples)

        // Measured: mean gap 0.059 with standard error 0.015, so 0.12 ≈ 0.059 + 4 · 0.015.
        XCTAssertLessThan(gap.mean, 0.12, "ΠGDM mean")
        // Measured: covariance gap 0.033 (0.65 without guidance).
        XCTAssertLessThan(gap.covariance, 0.15, "ΠGDM covariance")
    }

    func testPiGDMConjugateGradientsMatchSVD() throws {
        // The same draws through the exact spectral inverse and through conjugate gradients on
        // r² A Aᵀ + σ² I (2 × 2 here, so CG is exact after 2 iterations up to rounding).
        let dense = try DenseSingularValueObservation(wrapping: PosteriorCase.likelihood, signalShape: [4])
        let sampler = PiGDMSampler(schedule: schedule, steps: 20)
        let spectral = try draw(sampler, likelihood: dense, count: 50, seed: 5)
        let iterative = try draw(sampler, likelihood: PosteriorCase.likelihood, count: 50, seed: 5)
        let difference = zip(spectral.scalars, iterative.scalars).map { Swift.abs($0 - $1) }.max()!
        XCTAssertLessThan(difference, 1e-8)
    }

    func testPiGDMNonlinearPathMatchesPosterior() throws {
        // The isotropic approximation A Aᵀ ≈ I is not exact for this A, so the gap is larger
        // than on the spectral path: measured 0.077 with standard error 0.015, and 0.14 ≈ 0.077 + 4 · 0.015.
        let sampler = PiGDMSampler(schedule: schedule, noiseStandardDeviation: PosteriorCase.noiseStandardDeviation)
        let samples = try draw(sampler, likelihood: OpaqueObservation(PosteriorCase.likelihood), count: 2000, seed: 6)
        XCTAssertLessThan(gaps(samples).mean, 0.14, "ΠGDM nonlinear path mean")
    }

    func testDDRMMatchesPosterior() throws {
        let dense = try DenseSingularValueObservation(wrapping: PosteriorCase.likelihood, signalShape: [4])
        let samples = try draw(DDRMSampler(schedule: schedule), likelihood: dense, count: 4000, seed: 3)
        let gap = gaps(samples)

        // Measured: mean gap 0.056 with standard error 0.009, so 0.1 ≈ 0.056 + 4 · 0.009.
        // With η_b = 0.5 instead of 1 the mean gap is 0.13.
        XCTAssertLessThan(gap.mean, 0.1, "DDRM mean")
        // Measured: covariance gap 0.17.
        XCTAssertLessThan(gap.covariance, 0.3, "DDRM covariance")
    }

    func testREDDiffMatchesPosteriorMean() throws {
        let samples = try draw(REDDiffSampler(schedule: schedule), likelihood: PosteriorCase.likelihood, count: 1000, seed: 4)

        // RED-diff optimises one point per run, so only the mean is compared. Measured: gap
        // 0.021 with standard error 0.008, so 0.06 ≈ 0.021 + 4 · 0.008 plus a margin. Without the
        // regulariser (λ = 0) it stays at A⁺y, a gap of 0.38.
        XCTAssertLessThan(gaps(samples).mean, 0.06, "RED-diff mean")
    }

    func testREDDiffNonlinearPathMatchesPosteriorMean() throws {
        // From the N(0, I) starts instead of A⁺y. Measured: gap 0.023 with standard error 0.008.
        let samples = try draw(REDDiffSampler(schedule: schedule), likelihood: OpaqueObservation(PosteriorCase.likelihood), count: 1000, seed: 7)
        XCTAssertLessThan(gaps(samples).mean, 0.06, "RED-diff nonlinear path mean")
    }

    func testModelEvaluationCounts() throws {
        let dense = try DenseSingularValueObservation(wrapping: PosteriorCase.likelihood, signalShape: [4])
        let cases: [(any PosteriorSampler, any ObservationModel<Double>, Int)] = [
            (DPSSampler(schedule: schedule), PosteriorCase.likelihood, 1000),
            (PiGDMSampler(schedule: schedule), dense, 100),
            (DDRMSampler(schedule: schedule), dense, 20),
            (REDDiffSampler(schedule: schedule), PosteriorCase.likelihood, 1000),
        ]
        for (sampler, likelihood, expected) in cases {
            let counting = CountingPredictor(predictor())
            var generator = PhiloxRandom(seed: 8)
            let y = Tensor<Double>(shape: [1, 2], scalars: PosteriorCase.observation)
            _ = try sampler.sample(counting, observation: y, likelihood: likelihood, from: Tensor(zeros: [1, 4]), using: &generator)
            XCTAssertEqual(sampler.modelEvaluations, expected, sampler.name)
            XCTAssertEqual(counting.calls, expected, sampler.name)
        }
    }
}

/// Spectral samplers on a spectrum with a zero singular value and noiseless observations.
final class ZeroSingularValueTests: XCTestCase {
    let schedule = DDPMSchedule.linear()

    /// Draws 8 reconstructions of `observation` through `likelihood` from fixed N(0, I) starts.
    private func draw(_ sampler: some PosteriorSampler, likelihood: DiagonalSpectrumObservation, observation: [Double]) throws -> Tensor<Double> {
        var generator = PhiloxRandom(seed: 9)
        let initial = initialNoise(shape: [8, 4], as: Double.self, using: &generator)
        let y = Tensor<Double>(shape: [1, observation.count], scalars: observation) + Tensor(zeros: [8, observation.count])
        let predictor = GaussianNoisePredictor<Double>(prior: PosteriorCase.prior, schedule: schedule)
        return try sampler.sample(predictor, observation: y, likelihood: likelihood, from: initial, using: &generator)
    }

    /// A zero sᵢ carries no measurement, so a spectrum (1, 0) must give the draws of the
    /// spectrum (1) on the same starts and noise, to rounding.
    private func checkZeroMatchesDropped(_ sampler: some PosteriorSampler) throws {
        let withZero = try draw(
            sampler, likelihood: DiagonalSpectrumObservation(singularValues: [1, 0], signalCount: 4, noiseStandardDeviation: 0),
            observation: [0.7, 0])
        let dropped = try draw(
            sampler, likelihood: DiagonalSpectrumObservation(singularValues: [1], signalCount: 4, noiseStandardDeviation: 0),
            observation: [0.7])
        XCTAssertTrue(withZero.scalars.allSatisfy(\.isFinite), "\(sampler.name): non-finite draws \(withZero.scalars)")
        let difference = zip(withZero.scalars, dropped.scalars).map { Swift.abs($0 - $1) }.max()!
        XCTAssertLessThan(difference, 1e-12, sampler.name)
    }

    func testPiGDMZeroSingularValue() throws {
        try checkZeroMatchesDropped(PiGDMSampler(schedule: schedule, steps: 20))
    }

    func testDDRMZeroSingularValue() throws {
        try checkZeroMatchesDropped(DDRMSampler(schedule: schedule))
    }
}
