import ControlObjectives
import Foundation
import GaussianOracle
import NeuralNetworks
import SDECore
import Tensors
import XCTest

/// An ε-model given by a `UNet` with random weights, taking the SDE time scaled by 1000.
final class RandomUNetPrior<Scalar: TensorScalar>: NoisePredictor {
    let network: UNet<Scalar>

    init(seed: UInt64) {
        var generator = PhiloxRandom(seed: seed)
        network = UNet(
            configuration: UNetConfiguration(inputChannels: 1, baseChannels: 4, channelMultipliers: [1, 2], groups: 2, timeScale: 1),
            using: &generator)
    }

    func predictNoise(_ x: Variable<Scalar>, at t: Tensor<Scalar>) -> Variable<Scalar> {
        network(x, Variable(t))
    }
}

/// The image control path at toy sizes: 8 × 8 images, a random U-Net prior on the VP SDE,
/// a random linear Gaussian observation of 16 entries, and `ImageLikelihoodInformedHTransform`
/// trained by the log-variance loss on detached paths.
final class ImageControlSmokeTests: XCTestCase {
    struct Setup {
        let score: NoisePredictorScore<RandomUNetPrior<Float>>
        let problem: ControlProblem<VPSDE<Float>>
        let model: ImageLikelihoodInformedHTransform<Float>
    }

    /// Builds the problem on `steps` grid steps. The prior's ε is a random U-Net, so the
    /// tests check shapes, finiteness and the optimiser's progress, not a posterior.
    func makeSetup(steps: Int) -> Setup {
        let side = 8
        let d = side * side
        let sde = VPSDE<Float>()
        let score = NoisePredictorScore(
            predictor: RandomUNetPrior<Float>(seed: 1), sampleShape: [1, side, side],
            alphaBar: { sde.alphaBar($0) }, modelTime: { 1000 * $0 })

        var generator = PhiloxRandom(seed: 2)
        let a = Matrix(Tensor<Double>.normal(shape: [16, d], using: &generator)) * (1 / Double(d).squareRoot())
        let observationModel = LinearGaussianObservation<Float>(operator: a, noiseStandardDeviation: 0.3)
        let truth = Tensor<Float>.uniform(shape: [1, d], lower: -1, upper: 1, using: &generator)
        let y = observationModel.sample(given: truth, using: &generator)

        // The grid stops at t = 0.01, where ᾱ < 1 keeps the ε-model's score finite.
        let grid = TimeGrid(points: (0...steps).map { n in 1 - 0.99 * Double(n) / Double(steps) })
        let problem = ControlProblem(
            forward: sde, priorScore: { t, x in score(t, x) }, terminalCost: .likelihood(observationModel, observation: y),
            grid: grid, dimension: d)
        let model = ImageLikelihoodInformedHTransform<Float>(
            imageShape: [1, side, side], guidance: problem.reconstructionGuidance(), baseChannels: 4,
            channelMultipliers: [1, 2], groups: 2, gradientInputScale: 0.09, initialGuidanceScale: { t in 0.1 * sde.alphaBar(t) },
            using: &generator)
        return Setup(score: score, problem: problem, model: model)
    }

    func testInitialOutputIsScaledGuidance() {
        let setup = makeSetup(steps: 10)
        var generator = PhiloxRandom(seed: 3)
        let x = Tensor<Float>.normal(shape: [3, 64], using: &generator)
        let t = 0.4
        let h = withoutRecording { setup.model(t, Variable(x)).value }
        let expected = setup.problem.reconstructionGuidance().inputs(at: t, x).guidanceTerm * Float(0.1 * setup.problem.forward.alphaBar(t))
        XCTAssertEqual(h.shape, [3, 64])
        XCTAssertLessThan(maxDifference(h, expected), 1e-5 * maxMagnitude(expected))
    }

    func testLogVarianceLossDecreases() throws {
        let steps = 20
        let setup = makeSetup(steps: steps)
        let evaluation = setup.problem.randomness(batch: 16, seed: 99)
        let trainer = ControlTrainer(
            problem: setup.problem, model: setup.model, objective: .logVariance(),
            configuration: .init(batchSize: 4, learningRate: ConstantLearningRate(3e-3), seed: 1))
        let before = try trainer.evaluate(randomness: evaluation)
        XCTAssertEqual(before.samples.shape, [16, 64])
        XCTAssertTrue(before.samples.scalars.allSatisfy(\.isFinite), "initial samples are not finite")

        // One training step of the detached objective evaluates the prior once per state:
        // the drift fills the memo and the guidance and the gradient pass read it.
        let countBefore = setup.score.evaluationCount
        try trainer.step()
        XCTAssertEqual(setup.score.evaluationCount - countBefore, steps, "prior evaluations in one training step")

        let started = Date()
        try trainer.train(steps: 19)
        let after = try trainer.evaluate(randomness: evaluation)
        print(String(
            format: "image control smoke test: log-variance on 16 fixed paths %.4f → %.4f after 20 steps, %.2f s",
            before.loss, after.loss, Date().timeIntervalSince(started)))
        XCTAssertTrue(after.loss.isFinite)
        XCTAssertTrue(after.gradients.allSatisfy { $0.scalars.allSatisfy(\.isFinite) }, "gradients are not finite")
        XCTAssertLessThan(after.loss, before.loss)
    }

    /// Central differences in Double through the U-Net correction and NN2, step 1e-5.
    func testImageModelGradientsMatchFiniteDifferences() {
        let side = 4
        let sde = VPSDE<Double>()
        let prior = RandomUNetPrior<Double>(seed: 4)
        let score = NoisePredictorScore(
            predictor: prior, sampleShape: [1, side, side], alphaBar: { sde.alphaBar($0) }, modelTime: { 1000 * $0 })
        let guidance = ReconstructionGuidance<Double>(
            alphaBar: { sde.alphaBar($0) }, priorScore: { t, x in score(t, x) },
            logWeightGradient: { x, _ in x * -1 })
        var generator = PhiloxRandom(seed: 5)
        let model = ImageLikelihoodInformedHTransform<Double>(
            imageShape: [1, side, side], guidance: guidance, baseChannels: 4, channelMultipliers: [1, 2], groups: 2,
            using: &generator)
        for parameter in model.parameters {
            parameter.value = Tensor.normal(shape: parameter.shape, standardDeviation: 0.3, using: &generator)
        }
        let x = Tensor<Double>.normal(shape: [2, side * side], using: &generator)
        let result = checkGradients(at: [], parameters: model.parameters) { _ in model(0.3, Variable(x)) }
        XCTAssertLessThan(result.maxRelativeError, 1e-6)
    }
}
