import DEFTScoreMatching
import Foundation
import GaussianOracle
import SDECore
import Tensors
import XCTest

/// DEFT fine-tuning on Gaussian data with the oracle's exact ε-model as the frozen prior:
/// the network's initial convention, its gradients, and (b) that score matching on
/// paired draws recovers h*.
final class ScoreMatchingTests: XCTestCase {
    /// β(t) linear from 0.1 to 20 on [0, 1].
    let sde = VPSDE<Double>(schedule: .linear(betaMin: 0.1, betaMax: 20), horizon: 1)

    func testInitialNetworkIsJacobianFreeGuidance() {
        // At initialisation h^φ = −√(1 − ᾱ) ∇_{x_t} ln p(y | x̂₀(x_t)) with the ε-model's
        // Jacobian dropped, computed here by differentiating through
        // x̂₀ = (x_t − √(1 − ᾱ) stopgrad(ε_θ)) / √ᾱ.
        let problem = GaussianTestProblem(dimension: 8)
        let prior = GaussianNoisePredictor<Double>(prior: problem.prior, sde: sde)
        var generator = PhiloxRandom(seed: 2)
        let network = HTransformNetwork<Double>(dimension: 8, timeScale: 1000, using: &generator)
        let model = DEFTModel(prior: prior, schedule: sde, network: network)

        let x = normalTensor([6, 8], stream: 200)
        let times = [0.01, 0.1, 0.3, 0.5, 0.8, 1.0]
        let y = Tensor<Double>(shape: [6, 3], scalars: Array(repeating: problem.observation, count: 6).flatMap { $0 })
        let conditioning = ObservationBatch(observation: y, likelihood: problem.observationModel)
        let correction = model.correction(state: x, time: Tensor(times), conditioning: conditioning)

        let levels = times.map { sde.alphaBar($0) }
        let noise = prior.predictNoise(x, at: Tensor(times))
        let signal = Tensor<Double>(shape: [6, 1], scalars: levels.map { $0.squareRoot() })
        let noiseScale = Tensor<Double>(shape: [6, 1], scalars: levels.map { (1 - $0).squareRoot() })
        let guidance = vectorJacobianProduct(at: [x], cotangent: Tensor(shape: [6], repeating: 1)) { inputs in
            let tweedie = (inputs[0] - noise * noiseScale) / signal
            return problem.observationModel.logLikelihood(of: y, given: tweedie)
        }.inputGradients[0]
        let expected = guidance * (-noiseScale)
        XCTAssertLessThan(maximumDifference(correction.scalars, expected.scalars), 1e-9 * Double(expected.scalars.map(abs).max()!))
    }

    func testNetworkGradientsMatchFiniteDifferences() {
        var generator = PhiloxRandom(seed: 3)
        let network = HTransformNetwork<Double>(
            dimension: 2, featureDimension: 1, hiddenSizes: [8], guidanceHiddenSizes: [4], embeddingDimension: 4,
            timeScale: 10, using: &generator)
        // Non-zero output layers, so that every parameter influences the output.
        for layer in [network.correction.layers.last!, network.guidanceScale.layers.last!] {
            layer.weight.value = normalTensor(layer.weight.shape, stream: 300 + layer.weight.shape[0]) * 0.3
        }
        let inputs = HTransformInputs(
            state: normalTensor([3, 2], stream: 301), tweedie: normalTensor([3, 2], stream: 302),
            likelihoodGradient: normalTensor([3, 2], stream: 303), time: Tensor([0.1, 0.5, 0.9]),
            alphaBar: Tensor([0.9, 0.4, 0.05]), features: normalTensor([3, 1], stream: 304))
        let result = checkGradients(at: [], parameters: network.parameters) { _ in network(inputs) }
        XCTAssertLessThan(result.maxRelativeError, 1e-6, "\(result)")
    }

    func testScoreMatchingRecoversHTransformInOneDimension() throws {
        // A 2 × 1 operator, so each observation is two noisy views of the one coordinate.
        // The posterior's standard deviation is 0.16 and the sampling-noise scale
        // √(tr P / n) 0.0025. The allowance of 0.005 is 3 % of that standard deviation.
        try checkScoreMatchingRecoversHTransform(dimension: 1, steps: 3000, samplesAllowance: 0.005)
    }

    func testScoreMatchingRecoversHTransform() throws {
        // A 1 × 2 operator. Sampling noise alone gives W2 ≈ √(tr P / n) ≈ 0.01 here. The
        // allowance of 0.02 for the learned correction is 4 % of the posterior's standard
        // deviations (about 0.5).
        try checkScoreMatchingRecoversHTransform(dimension: 2, steps: 4000, samplesAllowance: 0.02)
    }

    func testScoreMatchingRecoversHTransformInEightDimensions() throws {
        // A 3 × 8 operator. The posterior's standard deviations lie between 0.64 and 1.3 and
        // the sampling-noise scale √(tr P / n) is 0.04. The allowance of 0.03 is 4 % of the
        // smallest standard deviation. At 4000 steps the error of h^φ was 3.9 %, too close to
        // the 5 % bound, so this dimension trains for 6000.
        try checkScoreMatchingRecoversHTransform(dimension: 8, steps: 6000, samplesAllowance: 0.03)
    }

    /// Check (b), amortised over y ~ p(y), in Float on `GaussianTestProblem(dimension:)`
    /// with σ_y = 0.5: DEFT score matching on paired draws (x₀, y) recovers h* to a
    /// relative L2 error below 5 %, the learned conditional Tweedie estimate is at least
    /// ten times closer to E[X₀ | x_t, y] than the unconditional one (check (e)), and
    /// reverse-SDE samples with ε_θ + h^φ are within `samplesAllowance` in W2 of the same
    /// sampler with the exact h* on the same noise.
    func checkScoreMatchingRecoversHTransform(
        dimension d: Int, steps: Int, samplesAllowance: Double, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let problem = GaussianTestProblem(dimension: d)
        let k = problem.operatorMatrix.rows
        let continuous = VPSDE<Float>(schedule: .linear(betaMin: 0.1, betaMax: 20), horizon: 1)
        let prior = GaussianNoisePredictor<Float>(prior: problem.prior, sde: continuous)
        let observationModel = LinearGaussianObservation<Float>(
            operator: problem.operatorMatrix, noiseStandardDeviation: problem.noiseStd)
        var generator = PhiloxRandom(seed: 1)
        let network = HTransformNetwork<Float>(dimension: d, timeScale: 1000, using: &generator)
        let model = DEFTModel(prior: prior, schedule: continuous, network: network)
        let trainer = DEFTTrainer(model: model, configuration: DEFTTrainingConfiguration(steps: steps, batchSize: 256))
        func pairedBatch(_ generator: inout PhiloxRandom, _ count: Int) -> DEFTTrainingBatch<Float> {
            let x0 = problem.prior.sample(count: count, using: &generator, as: Float.self)
            let y = observationModel.sample(given: x0, using: &generator)
            return DEFTTrainingBatch(x0: x0, conditioning: ObservationBatch(observation: y, likelihood: observationModel))
        }
        let start = Date()
        trainer.train(sampleBatch: pairedBatch, using: &generator)
        let trainingSeconds = Date().timeIntervalSince(start)
        trainer.useAveragedWeights()

        // Relative L2 error in ε-units over t on a grid of 50 points in (0, 1] and over
        // (x₀, y) ~ p(x₀, y) with x_t from the forward process.
        var evaluation = PhiloxRandom(seed: 99)
        let batch = pairedBatch(&evaluation, 2000)
        let times = (1...50).map { Double($0) / 50 }
        let error = model.relativeCorrectionError(
            x0: batch.x0, conditioning: batch.conditioning, times: times,
            reference: { state, t in
                let alphaBar = self.sde.alphaBar(t)
                let exact = observationModel.amortizedHTransform(alphaBar: alphaBar, oracle: problem.oracle)
                return exact(state, batch.conditioning.observation) * Float(-(1 - alphaBar).squareRoot())
            }, using: &evaluation)
        print("DEFT score matching, d = \(d): relative L2 error of h^φ \(error) after \(steps) steps, \(trainingSeconds) s of training")
        XCTAssertLessThan(error, 0.05, "d = \(d)", file: file, line: line)

        // (e) with the learned correction: the conditional Tweedie estimate against the
        // exact E[X₀ | x_t, y], at states x_t ~ p_t(· | y) of the test observation. The
        // unconditional estimate ignores y, so its error is the size of the correction; a
        // correction learned to a few per cent must cut it at least tenfold.
        let testObservation = problem.observation.map { Float($0) }
        for t in [0.1, 0.3, 0.5] {
            let alphaBar = sde.alphaBar(t)
            var draws = PhiloxRandom(seed: 21)
            let states = problem.oracle.diffusedTarget(alphaBar: alphaBar).sample(count: 1000, using: &draws, as: Float.self)
            let observations = Tensor<Float>(shape: [1000, k], scalars: Array(repeating: testObservation, count: 1000).flatMap { $0 })
            let conditioning = ObservationBatch(observation: observations, likelihood: observationModel)
            let times = Tensor<Float>(shape: [1000], repeating: Float(t))
            let learned = model.conditionalTweedie(state: states, time: times, conditioning: conditioning)
            let unconditional = prior.tweedie(Variable(states), at: times, alphaBar: Tensor(shape: [1000], repeating: Float(alphaBar))).value
            let exact = problem.oracle.conditionalTweedieMap(alphaBar: alphaBar)(states)
            let learnedError = Double(((learned - exact) * (learned - exact)).sum())
            let unconditionalError = Double(((unconditional - exact) * (unconditional - exact)).sum())
            print("d = \(d), t = \(t): RMS error of the conditional Tweedie estimate \((learnedError / 1000).squareRoot()), of the unconditional one \((unconditionalError / 1000).squareRoot())")
            XCTAssertLessThan(learnedError, unconditionalError / 100, "d = \(d), t = \(t)", file: file, line: line)
        }

        // Conditional samples for the test observation, by the reverse SDE from N(0, I) with
        // ε_θ + h^φ, against the same sampler with the exact h* on the same noise.
        let count = 4000
        var sampling = PhiloxRandom(seed: 7)
        let initial = Tensor<Float>.normal(shape: [count, d], using: &sampling)
        let observations = Tensor<Float>(shape: [count, k], scalars: Array(repeating: testObservation, count: count).flatMap { $0 })
        let conditioned = ConditionedNoisePredictor(
            model: model, conditioning: ObservationBatch(observation: observations, likelihood: observationModel))
        let grid = TimeGrid(from: 1, to: 0, steps: 256)
        let brownian = GridBrownianPath<Float>(grid: grid, shape: [count, d], seed: 8)
        let learnedSamples = try sampleReverseSDE(
            predictor: conditioned, sde: continuous, initial: initial, grid: grid, brownian: brownian)
        let exactReverse = ReverseTimeSDE(forward: continuous, score: problem.oracle.conditionalScoreFunction(sde: continuous))
        let exactSamples = try solve(
            exactReverse, x0: Variable(initial), grid: grid, brownian: brownian, gradient: .detached).terminal.value

        // With shared noise the two samplers differ only through h^φ − h*.
        let posterior = problem.oracle.target
        let learnedDistance = try SampleMoments(learnedSamples).fittedNormal().wassersteinDistance(to: posterior)
        let exactDistance = try SampleMoments(exactSamples).fittedNormal().wassersteinDistance(to: posterior)
        let noiseScale = (posterior.covariance.trace / Double(count)).squareRoot()
        print("d = \(d): W2 to the posterior of the fitted Gaussian: DEFT samples \(learnedDistance), exact-h* samples \(exactDistance), sampling-noise scale √(tr P / n) \(noiseScale), posterior standard deviations \(posterior.covariance.diagonal.map { $0.squareRoot() })")
        XCTAssertLessThan(learnedDistance, exactDistance + samplesAllowance, "d = \(d)", file: file, line: line)
    }
}
