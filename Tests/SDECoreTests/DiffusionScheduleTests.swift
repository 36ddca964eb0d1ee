import Foundation
import SDECore
import Tensors
import XCTest

final class DiffusionScheduleTests: XCTestCase {
    func testDDPMLinearIsExactCumulativeProduct() {
        let schedule = DDPMSchedule.linear()
        XCTAssertEqual(schedule.count, 1000)
        XCTAssertEqual(schedule.betas[0], 1e-4)
        XCTAssertEqual(schedule.betas[999], 0.02, accuracy: 1e-15)
        var product = 1.0
        for i in 0..<schedule.count {
            product *= 1 - schedule.betas[i]
            XCTAssertEqual(schedule.alphaBars[i], product)
            XCTAssertEqual(schedule.alphas[i], 1 - schedule.betas[i])
        }
        // The product differs from exp(−Σβ) at second order: ∏(1 − β) = exp(−Σβ − ½Σβ² − …).
        let sumBeta = schedule.betas.reduce(0, +)
        let sumBetaSquared = schedule.betas.reduce(0) { $0 + $1 * $1 }
        let gap = Foundation.log(Foundation.exp(-sumBeta) / schedule.alphaBars[999])
        XCTAssertEqual(gap, 0.5 * sumBetaSquared, accuracy: 0.01 * sumBetaSquared)
        XCTAssertGreaterThan(gap, 0.05)
    }

    func testDDPMCosineFollowsSquaredCosine() {
        let schedule = DDPMSchedule.cosine(count: 1000)
        func f(_ i: Int) -> Double {
            let c = Foundation.cos((Double(i) / 1000 + 0.008) / 1.008 * Double.pi / 2)
            return c * c
        }
        // Before the 0.999 cap binds, ᾱᵢ = f(i)/f(0) up to rounding of the product.
        for i in [1, 100, 500, 900] {
            XCTAssertEqual(schedule.alphaBars[i - 1], f(i) / f(0), accuracy: 1e-12)
        }
        XCTAssertEqual(schedule.betas.max()!, 0.999)
    }

    func testVPLinearAlphaBarMatchesIntegratedBeta() {
        let sde = VPSDE<Double>(schedule: .linear(betaMin: 0.1, betaMax: 20))
        // ∫₀¹ β = 0.1 + 19.9/2 = 10.05.
        XCTAssertEqual(sde.integratedBeta(1), 10.05, accuracy: 1e-12)
        XCTAssertEqual(sde.alphaBar(0.5), Foundation.exp(-(0.05 + 19.9 / 8)), accuracy: 1e-15)
        XCTAssertEqual(sde.marginalStandardDeviation(0.5), (1 - sde.alphaBar(0.5)).squareRoot(), accuracy: 1e-15)
    }

    /// β must be −d log ᾱ/dt, including past the cap, where β is constant.
    func testVPCosineBetaIsDerivativeOfIntegral() {
        let sde = VPSDE<Double>(schedule: .cosine(offset: 0.008, maximumBeta: 20))
        let step = 1e-6
        for t in [0.1, 0.5, 0.9, 0.99, 0.999] {
            let derivative = (sde.integratedBeta(t + step) - sde.integratedBeta(t - step)) / (2 * step)
            XCTAssertEqual(derivative, sde.beta(t), accuracy: 1e-6 * Swift.max(1, sde.beta(t)))
        }
        XCTAssertEqual(sde.beta(0.9999), 20)
        XCTAssertEqual(sde.alphaBar(0), 1, accuracy: 1e-15)
    }

    func testVEMarginalVarianceIsIntegratedSquaredDiffusion() {
        let sde = VESDE<Double>(sigmaMin: 0.01, sigmaMax: 50)
        // ∫₀ᵗ g² = σ(t)² − σmin²; check with Simpson's rule on 2000 intervals.
        let t = 0.7
        let n = 2000
        var integral = 0.0
        for k in 0...n {
            let weight = k == 0 || k == n ? 1.0 : (k % 2 == 1 ? 4.0 : 2.0)
            let g = sde.diffusionCoefficient(t * Double(k) / Double(n))
            integral += weight * g * g
        }
        integral *= t / Double(n) / 3
        let expected = sde.marginalStandardDeviation(t) * sde.marginalStandardDeviation(t)
        XCTAssertEqual(integral, expected, accuracy: 1e-8 * expected)
    }

    /// For data N(0, I) the VP marginals are N(0, I) at every t, so the score is −x, the
    /// reverse drift is −½βx + βx = ½βx and the probability-flow drift is zero.
    func testReverseDriftsForStationaryGaussian() {
        let forward = VPSDE<Double>()
        let x = Variable(fixedTensor([4, 3]))
        let reverse = ReverseTimeSDE(forward: forward) { _, x in -x }
        let flow = ProbabilityFlowODE(forward: forward) { _, x in -x }
        let t = 0.3
        XCTAssertLessThan(maxAbsoluteDifference(reverse.drift(t, x).value, x.value * (0.5 * forward.beta(t))), 1e-12)
        XCTAssertLessThan(maxAbsoluteDifference(flow.drift(t, x).value, Tensor(zeros: [4, 3])), 1e-12)
        XCTAssertEqual(reverse.diffusion(t, x).value, forward.diffusion(t, x).value)
    }

    /// g gᵀ s for a general additive diffusion matches the explicit matrix product.
    func testReverseDriftWithGeneralNoise() {
        let matrix = fixedTensor([2, 3], seed: 4)
        let forward = ClosureSDE<Double>(
            noiseType: .additive(.general), drift: { _, x in x * -1.0 },
            diffusion: { _, x in Variable(Tensor(zeros: [x.shape[0], 2, 3]) + matrix.reshaped(to: [1, 2, 3])) })
        let score = fixedTensor([5, 2], seed: 6)
        let reverse = ReverseTimeSDE(forward: forward) { _, _ in Variable(score) }
        let x = Variable(fixedTensor([5, 2], seed: 8))
        let drift = reverse.drift(0, x).value
        let covariance = matmul(matrix, matrix, transposeB: true)
        let expected = -x.value - matmul(score, covariance, transposeB: true)
        XCTAssertLessThan(maxAbsoluteDifference(drift, expected), 1e-12)
    }
}
