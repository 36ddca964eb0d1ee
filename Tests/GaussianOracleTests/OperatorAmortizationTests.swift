import DEFTScoreMatching
import Foundation
import GaussianOracle
import SDECore
import Tensors
import XCTest

/// y = A_{s} x + σ_y ξ where each batch row s picks one of two operators of the same shape by
/// a selector w_s ∈ {0, 1}: A_s = (1 − w_s) A₀ + w_s A₁ applied row by row.
final class SwitchedLinearObservation: ObservationModel {
    typealias Scalar = Float

    let operators: (LinearGaussianObservation<Float>, LinearGaussianObservation<Float>)
    /// w, `[N, 1]`: 0 selects the first operator, 1 the second.
    let selector: Tensor<Float>

    init(operators: (LinearGaussianObservation<Float>, LinearGaussianObservation<Float>), selector: Tensor<Float>) {
        precondition(
            operators.0.operatorMatrix.rows == operators.1.operatorMatrix.rows
                && operators.0.operatorMatrix.columns == operators.1.operatorMatrix.columns,
            "SwitchedLinearObservation: the two operators must have the same shape")
        precondition(operators.0.noiseStd == operators.1.noiseStd, "SwitchedLinearObservation: the two noise levels must agree")
        precondition(selector.rank == 2 && selector.shape[1] == 1, "SwitchedLinearObservation: selector of shape \(selector.shape) must be [N, 1]")
        self.operators = operators
        self.selector = selector
    }

    func forward(_ x: Variable<Float>) -> Variable<Float> {
        precondition(x.shape[0] == selector.shape[0], "SwitchedLinearObservation: \(x.shape[0]) states for \(selector.shape[0]) selectors")
        let first = operators.0.forward(x) * Variable(1 - selector)
        let second = operators.1.forward(x) * Variable(selector)
        return first + second
    }

    /// Returns ln N(y; A_s x, σ² I), `[N]`.
    func logLikelihood(of y: Tensor<Float>, given x: Variable<Float>) -> Variable<Float> {
        let residual = forward(x) - y
        let variance = operators.0.noiseStd * operators.0.noiseStd
        let k = Double(operators.0.observationDimension)
        let squared = (residual * residual).sum(alongAxes: [1]).reshaped(to: [x.shape[0]])
        return squared * Float(-0.5 / variance) + Float(-0.5 * k * Foundation.log(2 * Double.pi * variance))
    }

    func sample(given x: Tensor<Float>, using generator: inout PhiloxRandom) -> Tensor<Float> {
        let noise = Tensor<Float>.normal(shape: [x.shape[0], operators.0.observationDimension], using: &generator)
        return withoutRecording { forward(Variable(x)).value } + noise * Float(operators.0.noiseStd)
    }
}

/// DEFT score matching amortised over the operator as well as over y. One network is trained
/// on batches whose rows each use one of two operators, and a feature input names the operator.
final class OperatorAmortizationTests: XCTestCase {
    let sde = VPSDE<Double>(schedule: .linear(betaMin: 0.1, betaMax: 20), horizon: 1)

    func testScoreMatchingAmortizesOverTwoOperators() {
        // The d = 2 test problem (prior with a non-diagonal S, a 1 × 2 operator A₀, σ_y = 0.5)
        // and a second random 1 × 2 operator A₁. The feature given to the network is w.
        let problem = GaussianTestProblem(dimension: 2)
        let d = problem.dimension
        var draws = PhiloxRandom(seed: 31)
        let secondOperator = Matrix(Tensor<Double>.normal(shape: [problem.operatorMatrix.rows, d], using: &draws))
        let operators = (
            LinearGaussianObservation<Float>(operator: problem.operatorMatrix, noiseStandardDeviation: problem.noiseStd),
            LinearGaussianObservation<Float>(operator: secondOperator, noiseStandardDeviation: problem.noiseStd))

        let continuous = VPSDE<Float>(schedule: .linear(betaMin: 0.1, betaMax: 20), horizon: 1)
        let prior = GaussianNoisePredictor<Float>(prior: problem.prior, sde: continuous)
        var generator = PhiloxRandom(seed: 1)
        let network = HTransformNetwork<Float>(dimension: d, featureDimension: 1, timeScale: 1000, using: &generator)
        let model = DEFTModel(prior: prior, schedule: continuous, network: network)
        let trainer = DEFTTrainer(model: model, configuration: DEFTTrainingConfiguration(steps: 4000, batchSize: 256))

        /// Paired draws (x₀, y) with each row's operator chosen by `selector`, or by a fair coin.
        func pairedBatch(_ generator: inout PhiloxRandom, _ count: Int, selector fixed: Float?) -> DEFTTrainingBatch<Float> {
            let selector = fixed.map { Tensor<Float>(shape: [count, 1], repeating: $0) }
                ?? Tensor<Float>(shape: [count, 1], scalars: (0..<count).map { _ in generator.nextUniform() < 0.5 ? 0 : 1 })
            let likelihood = SwitchedLinearObservation(operators: operators, selector: selector)
            let x0 = problem.prior.sample(count: count, using: &generator, as: Float.self)
            let y = likelihood.sample(given: x0, using: &generator)
            return DEFTTrainingBatch(
                x0: x0, conditioning: ObservationBatch(observation: y, likelihood: likelihood, features: selector))
        }
        let start = Date()
        trainer.train(sampleBatch: { pairedBatch(&$0, $1, selector: nil) }, using: &generator)
        let trainingSeconds = Date().timeIntervalSince(start)
        trainer.useAveragedWeights()

        // For each operator, the relative L2 error in ε-units over 50 times in (0, 1] and
        // over (x₀, y) ~ p(x₀, y) under that operator, against its own exact h*.
        let times = (1...50).map { Double($0) / 50 }
        for (index, observation) in [operators.0, operators.1].enumerated() {
            var evaluation = PhiloxRandom(seed: 99)
            let batch = pairedBatch(&evaluation, 2000, selector: Float(index))
            let error = model.relativeCorrectionError(
                x0: batch.x0, conditioning: batch.conditioning, times: times,
                reference: { state, t in
                    let alphaBar = self.sde.alphaBar(t)
                    let exact = observation.amortizedHTransform(alphaBar: alphaBar, oracle: problem.oracle)
                    return exact(state, batch.conditioning.observation) * Float(-(1 - alphaBar).squareRoot())
                }, using: &evaluation)

            // The other operator's h* at the same states and observations, to show that the
            // tolerance separates the two operators.
            let other = index == 0 ? operators.1 : operators.0
            var sameDraws = PhiloxRandom(seed: 99)
            _ = pairedBatch(&sameDraws, 2000, selector: Float(index))
            let mismatch = model.relativeCorrectionError(
                x0: batch.x0, conditioning: batch.conditioning, times: times,
                reference: { state, t in
                    let alphaBar = self.sde.alphaBar(t)
                    let exact = other.amortizedHTransform(alphaBar: alphaBar, oracle: problem.oracle)
                    return exact(state, batch.conditioning.observation) * Float(-(1 - alphaBar).squareRoot())
                }, using: &sameDraws)
            print("operator \(index): relative L2 error of h^φ \(error) against its own h*, \(mismatch) against the other operator's, after \(trainingSeconds) s of training")
            // One network fits two maps here, so the bound is looser than the 5 % of the
            // single-operator test: 4000 steps gave 3.7 % and 5.8 %. The two operators' h*
            // differ by more than 100 % of their size, so 10 % still tells them apart.
            XCTAssertLessThan(error, 0.1, "operator \(index)")
            XCTAssertGreaterThan(mismatch, 0.5, "operator \(index): the two operators' h* must differ")
        }
    }
}
