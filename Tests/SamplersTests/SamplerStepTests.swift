import Foundation
import GaussianOracle
import SDECore
import Samplers
import Tensors
import XCTest

/// Step counts, visited times and the relations between samplers.
final class SamplerStepTests: XCTestCase {
    let schedule = DDPMSchedule.linear()

    private func predictor() -> CountingPredictor<GaussianNoisePredictor<Double>> {
        CountingPredictor(GaussianNoisePredictor(prior: GaussianCase.prior, schedule: schedule))
    }

    func testDDIMCallsModelOncePerStep() {
        for steps in [1, 7, 10, 50, 333, 1000] {
            let sampler = DDIMSampler(schedule: schedule, steps: steps)
            let counter = predictor()
            var generator = PhiloxRandom(seed: 1)
            _ = sampler.sample(counter, from: initialNoise(shape: [5, 3], using: &generator), using: &generator)
            XCTAssertEqual(counter.calls, steps, "\(steps) steps")
            XCTAssertEqual(sampler.modelEvaluations, steps)
        }
    }

    func testDDIMTimestepSpacing() {
        let ten = DDIMSampler(schedule: schedule, steps: 10)
        XCTAssertEqual(ten.timesteps, [99, 199, 299, 399, 499, 599, 699, 799, 899, 999])

        let counter = predictor()
        var generator = PhiloxRandom(seed: 2)
        _ = ten.sample(counter, from: initialNoise(shape: [2, 3], using: &generator), using: &generator)
        XCTAssertEqual(counter.times, [999, 899, 799, 699, 599, 499, 399, 299, 199, 99], "visited from the noisiest step down")

        XCTAssertEqual(DDIMSampler(schedule: schedule, steps: 1000).timesteps, Array(0..<1000))
        XCTAssertEqual(DDIMSampler(schedule: schedule, steps: 3).timesteps, [332, 666, 999])
        XCTAssertEqual(DDIMSampler(schedule: schedule, steps: 1).timesteps, [999])
    }

    func testDDIMDenoisedEstimateStopsAtItsStep() {
        let sampler = DDIMSampler(schedule: schedule, steps: 10, eta: 0.5)
        let initial: Tensor<Double> = {
            var generator = PhiloxRandom(seed: 10)
            return initialNoise(shape: [4, 3], using: &generator)
        }()

        // Step 450 lies between 499 and 399, so the read-out is at 399, after 7 calls.
        let counter = predictor()
        var generator = PhiloxRandom(seed: 11)
        _ = sampler.denoisedEstimate(counter, from: initial, at: 450, using: &generator)
        XCTAssertEqual(counter.times, [999, 899, 799, 699, 599, 499, 399])

        // At or below the last step τ₁ = 99 it is the finished sample, bit for bit.
        var first = PhiloxRandom(seed: 12)
        var second = PhiloxRandom(seed: 12)
        let estimate = sampler.denoisedEstimate(predictor(), from: initial, at: 0, using: &first)
        let sample = sampler.sample(predictor(), from: initial, using: &second)
        XCTAssertEqual(estimate.scalars, sample.scalars)
    }

    func testAntitheticNoisePairsCopies() {
        var first = PhiloxRandom(seed: 14)
        var second = PhiloxRandom(seed: 14)
        let noise = antitheticNoise(shape: [5, 3], copies: 3, as: Double.self, using: &first)
        let draws = initialNoise(shape: [10, 3], as: Double.self, using: &second)
        XCTAssertEqual(noise.shape, [15, 3])

        // Copy 1 negates copy 0. The odd copy out is the next draw.
        XCTAssertEqual(noise.slice(alongAxis: 0, 0..<5).scalars, draws.slice(alongAxis: 0, 0..<5).scalars)
        XCTAssertEqual(noise.slice(alongAxis: 0, 5..<10).scalars, draws.slice(alongAxis: 0, 0..<5).scalars.map { -$0 })
        XCTAssertEqual(noise.slice(alongAxis: 0, 10..<15).scalars, draws.slice(alongAxis: 0, 5..<10).scalars)

        // One copy is the plain draw, so a single sample does not change.
        var third = PhiloxRandom(seed: 15)
        var fourth = PhiloxRandom(seed: 15)
        XCTAssertEqual(
            antitheticNoise(shape: [4, 2], copies: 1, as: Double.self, using: &third).scalars,
            initialNoise(shape: [4, 2], as: Double.self, using: &fourth).scalars)
    }

    func testDDIMWithFullNoiseIsAncestral() {
        // η = 1 on every step has DDPM's mean and posterior variance and draws the same
        // noise in the same order, so the two agree up to rounding.
        let initial: Tensor<Double> = {
            var generator = PhiloxRandom(seed: 3)
            return initialNoise(shape: [64, 3], using: &generator)
        }()
        var first = PhiloxRandom(seed: 4)
        var second = PhiloxRandom(seed: 4)
        let ddim = DDIMSampler(schedule: schedule, steps: 1000, eta: 1).sample(predictor(), from: initial, using: &first)
        let ddpm = DDPMSampler(schedule: schedule).sample(predictor(), from: initial, using: &second)
        let difference = zip(ddim.scalars, ddpm.scalars).map { Swift.abs($0 - $1) }.max()!
        XCTAssertLessThan(difference, 1e-9)
    }

    func testEveryMethodCountsItsEvaluations() throws {
        let process = ContinuousDDPM(schedule: schedule)
        let n = Double(schedule.count)
        let continuous = GaussianNoisePredictor<Double>(prior: GaussianCase.prior, alphaBar: { k in process.alphaBar((k + 1) / n) })
        let samplers: [(String, any Sampler)] = [
            ("DDPM", DDPMSampler(schedule: schedule)),
            ("DDPM, β variance, clipped", DDPMSampler(schedule: schedule, variance: .beta, clipsDenoised: true)),
            ("DDIM clipped", DDIMSampler(schedule: schedule, steps: 20, clipsDenoised: true)),
            ("reverse SDE", ReverseSDESampler(process: process, steps: 40)),
            ("reverse SDE, denoised", ReverseSDESampler(process: process, steps: 40, endTime: 1e-3, denoisesAtEnd: true)),
            ("probability flow, Heun", ProbabilityFlowSampler(process: process, steps: 15, method: .heun)),
            ("probability flow, Euler", ProbabilityFlowSampler(process: process, steps: 15, method: .euler, denoisesAtEnd: false)),
        ]
        for (name, sampler) in samplers {
            let counter = CountingPredictor(continuous)
            var generator = PhiloxRandom(seed: 5)
            let samples = try sampler.sample(counter, from: initialNoise(shape: [8, 3], using: &generator), using: &generator)
            XCTAssertEqual(counter.calls, sampler.modelEvaluations, name)
            XCTAssertEqual(samples.shape, [8, 3], name)
            XCTAssertTrue(samples.scalars.allSatisfy(\.isFinite), name)
        }
    }

    func testReverseSDEVisitsIntegerSteps() throws {
        // With N steps on ContinuousDDPM, Euler–Maruyama evaluates the predictor at the
        // step starts t = 1, 1 − 1/N, …, 1/N, which are the steps N − 1, …, 0.
        let process = ContinuousDDPM(schedule: schedule)
        let counter = CountingPredictor(GaussianNoisePredictor<Double>(prior: GaussianCase.prior, alphaBar: { k in
            process.alphaBar((k + 1) / 1000)
        }))
        var generator = PhiloxRandom(seed: 6)
        _ = try ReverseSDESampler(process: process, steps: 1000).sample(counter, from: initialNoise(shape: [2, 3], using: &generator), using: &generator)
        let expected = (0..<1000).reversed().map(Double.init)
        XCTAssertEqual(counter.times.count, 1000)
        XCTAssertLessThan(zip(counter.times, expected).map { Swift.abs($0 - $1) }.max()!, 1e-9)
    }

    func testClippedDDIMStaysInUnitRange() {
        // The last DDIM step returns x̂₀, which clipping keeps in [−1, 1].
        let counter = predictor()
        var generator = PhiloxRandom(seed: 7)
        let samples = DDIMSampler(schedule: schedule, steps: 10, clipsDenoised: true)
            .sample(counter, from: initialNoise(shape: [200, 3], using: &generator), using: &generator)
        XCTAssertGreaterThanOrEqual(samples.scalars.min()!, -1)
        XCTAssertLessThanOrEqual(samples.scalars.max()!, 1)
        XCTAssertTrue(samples.scalars.contains { $0 == 1 || $0 == -1 }, "N(m, S) has mass outside [−1, 1], so some samples are clipped")
    }

    func testSamplersAcceptImageShapes() throws {
        // The predictor receives [N, 1, 2, 2], because the samplers pass the shape through unchanged.
        final class ImagePredictor: NoisePredictor {
            let base: GaussianNoisePredictor<Double>
            init(_ base: GaussianNoisePredictor<Double>) { self.base = base }
            func predictNoise(_ x: Variable<Double>, at t: Tensor<Double>) -> Variable<Double> {
                XCTAssertEqual(x.shape, [6, 1, 2, 2])
                return base.predictNoise(x.reshaped(to: [6, 4]), at: t).reshaped(to: [6, 1, 2, 2])
            }
        }
        let prior = MultivariateNormal.standard(dimension: 4)
        let process = ContinuousDDPM(schedule: schedule)
        let discrete = ImagePredictor(GaussianNoisePredictor(prior: prior, schedule: schedule))
        let continuous = ImagePredictor(GaussianNoisePredictor(prior: prior, alphaBar: { k in process.alphaBar((k + 1) / 1000) }))
        var generator = PhiloxRandom(seed: 8)
        let initial = initialNoise(shape: [6, 1, 2, 2], as: Double.self, using: &generator)
        XCTAssertEqual(DDIMSampler(schedule: schedule, steps: 5).sample(discrete, from: initial, using: &generator).shape, [6, 1, 2, 2])
        XCTAssertEqual(try ReverseSDESampler(process: process, steps: 5).sample(continuous, from: initial, using: &generator).shape, [6, 1, 2, 2])
        XCTAssertEqual(try ProbabilityFlowSampler(process: process, steps: 5).sample(continuous, from: initial, using: &generator).shape, [6, 1, 2, 2])
    }

    func testContinuousDDPMMatchesScheduleAtStepTimes() {
        let process = ContinuousDDPM(schedule: schedule)
        for k in [0, 1, 17, 500, 998, 999] {
            let t = Double(k + 1) / 1000
            XCTAssertEqual(process.alphaBar(t), schedule.alphaBars[k], accuracy: 1e-12 * schedule.alphaBars[k], "ᾱ at step \(k)")
            XCTAssertEqual(process.modelTime(t), Double(k), accuracy: 1e-9, "model time at step \(k)")
        }
        XCTAssertEqual(process.alphaBar(0), 1)

        // Inside an interval, β = −d ln ᾱ / dt, which a central difference recovers to about 1e-6.
        for t in [0.0005, 0.1234, 0.7777] {
            let h = 1e-7
            let derivative = -(log(process.alphaBar(t + h)) - log(process.alphaBar(t - h))) / (2 * h)
            XCTAssertEqual(derivative, process.beta(t), accuracy: 1e-6 * process.beta(t), "β at \(t)")
        }

        // β(t) ≈ N β_{k+1}: 0.1 at the start and 20 at the end, to first order in β.
        XCTAssertEqual(process.beta(0.0005), 0.1, accuracy: 1e-5)
        XCTAssertEqual(process.beta(0.9995), 20, accuracy: 0.25)
    }
}
