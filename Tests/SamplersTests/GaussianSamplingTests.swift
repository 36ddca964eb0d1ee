import Foundation
import GaussianOracle
import SDECore
import Samplers
import Tensors
import XCTest

/// Each sampler, driven by the exact ε-model of N(m, S), against N(m, S).
///
/// Two checks per sampler. The exact law of the sampler's output (from the scalar
/// recursion of `GaussianCase.chainLaw`, or, for deterministic samplers, from the affine
/// map that the sampler itself computes) must lie within a stated discretisation
/// tolerance of N(m, S). And 4000 samples must match that law within 4 standard errors
/// (about 0.02 for the means and 0.03 for the covariances).
final class GaussianSamplingTests: XCTestCase {
    let schedule = DDPMSchedule.linear()
    let sampleCount = 4000

    private func ddpmPredictor() -> GaussianNoisePredictor<Double> {
        GaussianNoisePredictor(prior: GaussianCase.prior, schedule: schedule)
    }

    /// Returns the exact predictor for `ContinuousDDPM`, whose model time is the fractional step k = tN − 1.
    private func continuousPredictor(_ process: ContinuousDDPM) -> GaussianNoisePredictor<Double> {
        let n = Double(process.schedule.count)
        return GaussianNoisePredictor(prior: GaussianCase.prior, alphaBar: { k in process.alphaBar((k + 1) / n) })
    }

    private func draw(_ sampler: some Sampler, _ predictor: some NoisePredictor<Double>, seed: UInt64) throws -> Tensor<Double> {
        var generator = PhiloxRandom(seed: seed)
        let initial = initialNoise(shape: [sampleCount, 3], as: Double.self, using: &generator)
        return try sampler.sample(predictor, from: initial, using: &generator)
    }

    /// Returns the law N(c, A Aᵀ) of a deterministic sampler's output for N(0, I) input, from its
    /// outputs at 0 and at the basis vectors: the sampler is the affine map x ↦ A x + c.
    private func affineLaw(_ sampler: some Sampler, _ predictor: some NoisePredictor<Double>) throws -> (mean: [Double], covariance: Matrix) {
        let probes = Tensor<Double>(shape: [4, 3], scalars: [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1])
        var generator = PhiloxRandom(seed: 0)
        let outputs = try sampler.sample(predictor, from: probes, using: &generator)
        let offset = (0..<3).map { outputs[0, $0] }
        var map = Matrix(zeros: 3, 3)
        for column in 0..<3 {
            for row in 0..<3 {
                map[row, column] = outputs[column + 1, row] - offset[row]
            }
        }
        return (offset, map * map.transposed)
    }

    func testDDPMAncestralMatchesData() throws {
        let sampler = DDPMSampler(schedule: schedule)
        let law = GaussianCase.chainLaw(steps: schedule.count) { i, n in
            let k = schedule.count - 1 - n
            let (beta, alpha, alphaBar) = (schedule.betas[k], schedule.alphas[k], schedule.alphaBars[k])
            let previous = k > 0 ? schedule.alphaBars[k - 1] : 1
            let (p, q) = GaussianCase.epsilonCoefficients(i, alphaBar: alphaBar)
            let scale = beta / (1 - alphaBar).squareRoot()
            return ((1 - scale * p) / alpha.squareRoot(), -scale * q / alpha.squareRoot(), beta * (1 - previous) / (1 - alphaBar))
        }

        // 1000 ancestral steps: the chain's law is within 0.02 of N(m, S) (measured: 3e-5 in
        // the mean, 0.011 in the covariance). The posterior variance β̃_k is smaller than the
        // β_k that would keep N(0, I) data invariant, which shrinks the covariance slightly.
        let gap = distanceToData(law)
        XCTAssertLessThan(gap.mean, 0.02)
        XCTAssertLessThan(gap.covariance, 0.02)

        let samples = try draw(sampler, ddpmPredictor(), seed: 1)
        assertMoments(samples, match: law, "DDPM ancestral")
        assertMoments(samples, match: (GaussianCase.mean, GaussianCase.covariance), allowance: 0.02, "DDPM ancestral vs data")
    }

    func testDDIMDeterministicMatchesData() throws {
        var covarianceGaps: [Double] = []
        for steps in [50, 100] {
            let sampler = DDIMSampler(schedule: schedule, steps: steps, eta: 0)
            let law = try affineLaw(sampler, ddpmPredictor())

            // DDIM with η = 0 is first order: its covariance gap to N(m, S) is about 4.7/S
            // (measured 0.093 for S = 50 and 0.047 for S = 100), so the tolerance is 6/S. On
            // N(0, I) data each step scales x by cos(θ − θ′) with ᾱ = cos²θ, which shrinks the
            // variance by about Σ Δθ² ≈ (π/2)²/S. The mean gap, 0.004 for both S, comes from
            // starting at N(0, I) instead of the law of x at step 999, where √ᾱ ≈ 0.006.
            let gap = distanceToData(law)
            XCTAssertLessThan(gap.mean, 0.01, "\(steps) steps")
            XCTAssertLessThan(gap.covariance, 6 / Double(steps), "\(steps) steps")
            covarianceGaps.append(gap.covariance)

            let samples = try draw(sampler, ddpmPredictor(), seed: 2)
            assertMoments(samples, match: law, "DDIM η = 0, \(steps) steps")
            assertMoments(
                samples, match: (GaussianCase.mean, GaussianCase.covariance), allowance: 6 / Double(steps),
                "DDIM η = 0, \(steps) steps vs data")
        }

        // First order: doubling the steps halves the gap (measured ratio 1.96).
        XCTAssertEqual(covarianceGaps[0] / covarianceGaps[1], 2, accuracy: 0.2)
    }

    func testDDIMDenoisedEstimateHasLawOfPosteriorMean() throws {
        // With the exact ε-model, x̂₀(x_t) = E[x₀ | x_t], whose law for x_t drawn from the data's
        // noised law is N(m, S − E[Cov(x₀ | x_t)]): in the rotated coordinates its variances
        // are λᵢ² ᾱ / (ᾱ λᵢ + 1 − ᾱ), which shrink from λᵢ at t = 0 to 0 at high noise.
        let sampler = DDIMSampler(schedule: schedule, steps: 100)
        for timestep in [199, 499, 799] {
            let alphaBar = schedule.alphaBars[timestep]
            let variances = GaussianCase.eigenvalues.map { lambda in lambda * lambda * alphaBar / (alphaBar * lambda + 1 - alphaBar) }
            let expected = GaussianCase.law(rotatedMeans: GaussianCase.rotatedMean, rotatedVariances: variances)

            // η = 0 makes the read-out affine in x_T: its law from the probes.
            let probes = Tensor<Double>(shape: [4, 3], scalars: [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1])
            var generator = PhiloxRandom(seed: 0)
            let outputs = sampler.denoisedEstimate(ddpmPredictor(), from: probes, at: timestep, using: &generator)
            let offset = (0..<3).map { outputs[0, $0] }
            var map = Matrix(zeros: 3, 3)
            for column in 0..<3 {
                for row in 0..<3 {
                    map[row, column] = outputs[column + 1, row] - offset[row]
                }
            }
            let law = (mean: offset, covariance: map * map.transposed)

            // The steps above t* carry DDIM's first-order error, which grows as t* falls
            // (computed from the per-coordinate recursion: 0.0031, 0.0011 and 0.0002 in the
            // mean, 0.020, 5e-4 and 3e-7 in the covariance at t* = 199, 499 and 799), so the
            // tolerances are 0.01 and 0.03.
            XCTAssertLessThan(zip(law.mean, expected.mean).map { Swift.abs($0 - $1) }.max()!, 0.01, "step \(timestep)")
            XCTAssertLessThan((law.covariance - expected.covariance).maximumAbsoluteEntry, 0.03, "step \(timestep)")

            generator = PhiloxRandom(seed: 9)
            let initial = initialNoise(shape: [sampleCount, 3], as: Double.self, using: &generator)
            let estimates = sampler.denoisedEstimate(ddpmPredictor(), from: initial, at: timestep, using: &generator)
            assertMoments(estimates, match: law, "DDIM read out at step \(timestep)")
        }
    }

    func testAntitheticPairMeanIsExact() throws {
        // With η = 0 and the exact ε-model of Gaussian data, DDIM and its read-out are affine
        // in x_T. So the mean of an antithetic pair (z, −z) is the output at x_T = 0 for every z.
        // Independent pairs scatter about it by √(λᵢ / 2) per rotated coordinate (0.39 to
        // 0.87), so 1000 of them reach beyond 0.5.
        let sampler = DDIMSampler(schedule: schedule, steps: 100)
        let pairs = 1000
        var generator = PhiloxRandom(seed: 13)
        let antithetic = antitheticNoise(shape: [pairs, 3], copies: 2, as: Double.self, using: &generator)
        let independent = initialNoise(shape: [2 * pairs, 3], as: Double.self, using: &generator)
        let origin = Tensor<Double>(zeros: [1, 3])

        func largestGap(_ starts: Tensor<Double>, from centre: Tensor<Double>, at timestep: Int) -> Double {
            var unused = PhiloxRandom(seed: 0)
            let outputs = sampler.denoisedEstimate(ddpmPredictor(), from: starts, at: timestep, using: &unused)
            let means = (outputs.slice(alongAxis: 0, 0..<pairs) + outputs.slice(alongAxis: 0, pairs..<2 * pairs)) * 0.5
            return zip(means.scalars, (0..<means.scalarCount).map { centre.scalars[$0 % 3] }).map { Swift.abs($0 - $1) }.max()!
        }

        for timestep in [0, 499] {
            var unused = PhiloxRandom(seed: 0)
            let centre = sampler.denoisedEstimate(ddpmPredictor(), from: origin, at: timestep, using: &unused)
            // Rounding only: the affine map is applied in Double through at most 100 steps.
            XCTAssertLessThan(largestGap(antithetic, from: centre, at: timestep), 1e-12, "step \(timestep)")
            XCTAssertGreaterThan(largestGap(independent, from: centre, at: timestep), 0.5, "step \(timestep)")
        }

        // The output at x_T = 0 is the data mean up to DDIM's mean gap, 0.004 at 100 steps.
        var unused = PhiloxRandom(seed: 0)
        let centre = sampler.sample(ddpmPredictor(), from: origin, using: &unused)
        XCTAssertLessThan(zip(centre.scalars, GaussianCase.mean).map { Swift.abs($0 - $1) }.max()!, 0.01)
    }

    func testAntitheticStepNoiseKeepsPairsExact() throws {
        // With η = 1 the output is affine in the start and in every step's noise. Pairs that
        // mirror both (antitheticCopies = 2) all have the same mean: measured spread 4e-15.
        // Pairs that mirror only the start keep the spread of the step noise: measured 3.4
        // over 1000 pairs, where the bound 0.5 is the scale of √(λᵢ / 2).
        let pairs = 1000
        var startGenerator = PhiloxRandom(seed: 16)
        let starts = antitheticNoise(shape: [pairs, 3], copies: 2, as: Double.self, using: &startGenerator)

        func largestSpread(antitheticCopies: Int) -> Double {
            var sampler = DDIMSampler(schedule: schedule, steps: 100, eta: 1)
            sampler.antitheticCopies = antitheticCopies
            var generator = PhiloxRandom(seed: 17)
            let outputs = sampler.sample(ddpmPredictor(), from: starts, using: &generator)
            let means = (outputs.slice(alongAxis: 0, 0..<pairs) + outputs.slice(alongAxis: 0, pairs..<2 * pairs)) * 0.5
            return (0..<means.scalarCount).map { Swift.abs(means.scalars[$0] - means.scalars[$0 % 3]) }.max()!
        }

        XCTAssertLessThan(largestSpread(antitheticCopies: 2), 1e-12)
        XCTAssertGreaterThan(largestSpread(antitheticCopies: 1), 0.5)
    }

    func testDDIMStochasticMatchesData() throws {
        let sampler = DDIMSampler(schedule: schedule, steps: 100, eta: 1)
        let timesteps = sampler.timesteps
        let law = GaussianCase.chainLaw(steps: timesteps.count) { i, n in
            let index = timesteps.count - 1 - n
            let alphaBar = schedule.alphaBars[timesteps[index]]
            let previous = index > 0 ? schedule.alphaBars[timesteps[index - 1]] : 1
            let (p, q) = GaussianCase.epsilonCoefficients(i, alphaBar: alphaBar)
            let variance = (1 - previous) / (1 - alphaBar) * (1 - alphaBar / previous)
            let direction = (1 - previous - variance).squareRoot()
            let (r, u) = ((1 - (1 - alphaBar).squareRoot() * p) / alphaBar.squareRoot(), -(1 - alphaBar).squareRoot() * q / alphaBar.squareRoot())
            return (previous.squareRoot() * r + direction * p, previous.squareRoot() * u + direction * q, variance)
        }

        // DDIM with η = 1 in 100 steps is a coarse ancestral chain: within 0.15 of N(m, S)
        // (measured: 3e-5 in the mean, 0.10 in the covariance).
        let gap = distanceToData(law)
        XCTAssertLessThan(gap.mean, 0.01)
        XCTAssertLessThan(gap.covariance, 0.15)

        let samples = try draw(sampler, ddpmPredictor(), seed: 3)
        assertMoments(samples, match: law, "DDIM η = 1")
        assertMoments(samples, match: (GaussianCase.mean, GaussianCase.covariance), allowance: 0.15, "DDIM η = 1 vs data")
    }

    func testReverseSDEOnDDPMScheduleMatchesData() throws {
        let process = ContinuousDDPM(schedule: schedule)
        let sampler = ReverseSDESampler(process: process, steps: 1000)
        let h = 1.0 / 1000
        let law = GaussianCase.chainLaw(steps: 1000) { i, n in
            let t = 1 - Double(n) * h
            let (beta, alphaBar) = (process.beta(t), process.alphaBar(t))
            let (p, q) = GaussianCase.epsilonCoefficients(i, alphaBar: alphaBar)
            let scale = beta / (1 - alphaBar).squareRoot()
            return (1 + h * (0.5 * beta - scale * p), -h * scale * q, beta * h)
        }

        // Euler–Maruyama with 1000 steps: within 0.01 of N(m, S) (measured: 4e-4 in the
        // mean, 0.0014 in the covariance).
        let gap = distanceToData(law)
        XCTAssertLessThan(gap.mean, 0.01)
        XCTAssertLessThan(gap.covariance, 0.01)

        let samples = try draw(sampler, continuousPredictor(process), seed: 4)
        assertMoments(samples, match: law, "reverse SDE, DDPM schedule")
        assertMoments(samples, match: (GaussianCase.mean, GaussianCase.covariance), allowance: 0.01, "reverse SDE vs data")
    }

    func testReverseSDEOnVPSDEMatchesData() throws {
        let sde = VPSDE<Double>()
        let sampler = ReverseSDESampler(process: sde, steps: 500)
        let predictor = GaussianNoisePredictor<Double>(prior: GaussianCase.prior, sde: sde)
        let h = 1.0 / 500
        let law = GaussianCase.chainLaw(steps: 500) { i, n in
            let t = 1 - Double(n) * h
            let (beta, alphaBar) = (sde.beta(t), sde.alphaBar(t))
            let (p, q) = GaussianCase.epsilonCoefficients(i, alphaBar: alphaBar)
            let scale = beta / (1 - alphaBar).squareRoot()
            return (1 + h * (0.5 * beta - scale * p), -h * scale * q, beta * h)
        }

        // Euler–Maruyama with 500 steps on β from 0.1 to 20: within 0.01 of N(m, S)
        // (measured: 0.001 in the mean, 0.0037 in the covariance).
        let gap = distanceToData(law)
        XCTAssertLessThan(gap.mean, 0.01)
        XCTAssertLessThan(gap.covariance, 0.01)

        let samples = try draw(sampler, predictor, seed: 5)
        assertMoments(samples, match: law, "reverse SDE, VP SDE")
        assertMoments(samples, match: (GaussianCase.mean, GaussianCase.covariance), allowance: 0.01, "reverse SDE, VP SDE vs data")
    }

    func testProbabilityFlowMatchesData() throws {
        let process = ContinuousDDPM(schedule: schedule)
        let predictor = continuousPredictor(process)
        let cases: [(ProbabilityFlowSampler<ContinuousDDPM>.Method, Int, Double)] = [(.heun, 50, 0.01), (.euler, 200, 0.01)]
        for (method, steps, tolerance) in cases {
            let sampler = ProbabilityFlowSampler(process: process, steps: steps, method: method)
            let law = try affineLaw(sampler, predictor)

            // Heun in 50 steps and Euler in 200 steps, each ending at step 0 with a Tweedie
            // step: within 0.01 of N(m, S) (measured: 0.005 in the mean, from the N(0, I)
            // start, and 0.0012 and 0.0015 in the covariance).
            let gap = distanceToData(law)
            XCTAssertLessThan(gap.mean, tolerance, "\(method)")
            XCTAssertLessThan(gap.covariance, tolerance, "\(method)")

            let samples = try draw(sampler, predictor, seed: 6)
            assertMoments(samples, match: law, "probability flow, \(method)")
            assertMoments(samples, match: (GaussianCase.mean, GaussianCase.covariance), allowance: tolerance, "probability flow, \(method) vs data")
        }
    }

    func testProbabilityFlowOnVPSDEMatchesData() throws {
        let sde = VPSDE<Double>()
        let predictor = GaussianNoisePredictor<Double>(prior: GaussianCase.prior, sde: sde)
        let law = try affineLaw(ProbabilityFlowSampler(process: sde, steps: 50, method: .heun), predictor)

        // Heun in 50 steps, ending at t = 10⁻³ with a Tweedie step: within 0.01 of N(m, S)
        // (measured: 0.005 in the mean, from the N(0, I) start, and 4e-4 in the covariance).
        let gap = distanceToData(law)
        XCTAssertLessThan(gap.mean, 0.01)
        XCTAssertLessThan(gap.covariance, 0.01)
    }
}
