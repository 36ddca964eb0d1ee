import ControlObjectives
import Foundation
import GaussianOracle
import SDECore
import Tensors
import XCTest

/// Gradients of the control objectives: exact derivatives of the discrete objectives on
/// a fixed Brownian path (finite differences, 1e-6 in Double), agreement between the
/// gradient methods, and the expected-gradient identity of the log-variance loss.
final class ObjectiveGradientTests: XCTestCase {
    /// Returns the central difference of `loss` along the direction `direction` of the
    /// parameters, and ⟨gradient, direction⟩ for comparison.
    func directionalDerivatives(
        _ parameters: [Variable<Double>], gradients: [Tensor<Double>], seed: UInt64, step: Double = 1e-5,
        loss: () throws -> Double
    ) throws -> (finiteDifference: Double, analytic: Double) {
        var generator = PhiloxRandom(seed: seed)
        let direction = parameters.map { Tensor<Double>.normal(shape: $0.shape, using: &generator) }
        let original = parameters.map(\.value)
        func shifted(by amount: Double) throws -> Double {
            for (index, parameter) in parameters.enumerated() {
                parameter.value = original[index] + direction[index] * amount
            }
            defer { for (index, parameter) in parameters.enumerated() { parameter.value = original[index] } }
            return try loss()
        }
        let finiteDifference = (try shifted(by: step) - (try shifted(by: -step))) / (2 * step)
        let analytic = zip(gradients, direction).reduce(0) { $0 + ($1.0 * $1.1).sum() }
        return (finiteDifference, analytic)
    }

    // MARK: Exact derivatives on a fixed path

    /// Backpropagation differentiates the discrete relative-entropy estimate exactly, so a
    /// central difference with step 1e-5 (truncation about 1e-10 relative) agrees to 1e-6.
    func testRelativeEntropyBackpropagationMatchesFiniteDifferences() throws {
        let (fixture, model) = makeGradientTestProblem()
        let randomness = fixture.problem.randomness(batch: 16, seed: 3)
        for quadrature in [RunningCostQuadrature.leftPoint, .trapezoid] {
            let evaluation = try fixture.problem.relativeEntropy(
                model, randomness: randomness, gradient: .backpropagation, quadrature: quadrature)
            let check = try directionalDerivatives(model.parameters, gradients: evaluation.gradients, seed: 9) {
                try fixture.problem.relativeEntropy(model, randomness: randomness, gradient: .detached, quadrature: quadrature).loss
            }
            XCTAssertLessThan(relativeDifference(check.finiteDifference, check.analytic), 1e-6, "\(quadrature)")
        }
    }

    /// With a fixed reference (here the prior's reverse SDE with noise inflated 1.3 times)
    /// the detached losses are smooth deterministic functions of θ on a fixed path, and
    /// their gradients match central differences to 1e-6.
    func testDetachedGradientsMatchFiniteDifferences() throws {
        let (fixture, model) = makeGradientTestProblem()
        let randomness = fixture.problem.randomness(batch: 16, seed: 4)
        let reference = ReferenceProcess<Double>(drift: .prior, noiseScale: 1.3)
        let normalizer = ScalarLogNormalizer<Double>(initialValue: -2)

        let variance = try fixture.problem.logVariance(model, randomness: randomness, reference: reference)
        let varianceCheck = try directionalDerivatives(model.parameters, gradients: variance.gradients, seed: 10) {
            try fixture.problem.logVariance(model, randomness: randomness, reference: reference).loss
        }
        XCTAssertLessThan(relativeDifference(varianceCheck.finiteDifference, varianceCheck.analytic), 1e-6)

        let balance = try fixture.problem.trajectoryBalance(
            model, logNormalizer: normalizer, randomness: randomness, reference: reference)
        let balanceCheck = try directionalDerivatives(
            model.parameters + normalizer.parameters, gradients: balance.gradients, seed: 11
        ) {
            try fixture.problem.trajectoryBalance(model, logNormalizer: normalizer, randomness: randomness, reference: reference).loss
        }
        XCTAssertLessThan(relativeDifference(balanceCheck.finiteDifference, balanceCheck.analytic), 1e-6)
    }

    /// The on-policy reference is a stop-gradient copy of the model: its gradient equals
    /// that of a frozen copy with the same parameters (same paths, same terms), and
    /// recomputing the path gives the stored path's gradient, both to rounding.
    func testOnPolicyGradientEqualsFrozenCopyGradient() throws {
        let (fixture, model) = makeGradientTestProblem()
        let copy = AffineHTransform<Double>(dimension: 2, timeBasis: model.timeBasis)
        copy.loadParameterValues(model.parameterValues)
        let randomness = fixture.problem.randomness(batch: 16, seed: 6)

        let onPolicy = try fixture.problem.logVariance(model, randomness: randomness)
        let frozen = try fixture.problem.logVariance(model, randomness: randomness, reference: ReferenceProcess(drift: .model(copy)))
        let recomputed = try fixture.problem.logVariance(model, randomness: randomness, memory: .recomputedPath)
        XCTAssertEqual(onPolicy.loss, frozen.loss, accuracy: 1e-12 * onPolicy.loss)
        XCTAssertLessThan(relativeDifference(onPolicy.gradients, frozen.gradients), 1e-12)
        XCTAssertLessThan(relativeDifference(onPolicy.gradients, recomputed.gradients), 1e-12)
    }

    /// Amortised over observations: the context yᵢ of path i enters the h-transform
    /// (affine in random features of x and in y), the likelihood ln p(yᵢ | X₀ᵢ) and a
    /// quadratic log-normaliser k(yᵢ). With a fixed reference the trajectory-balance loss
    /// is deterministic on a fixed path, and its gradient in all parameters matches a
    /// central difference to 1e-6.
    func testAmortizedTrajectoryBalanceMatchesFiniteDifferences() throws {
        let base = GaussianControlFixture(dimension: 2, steps: 24)
        let problem = ControlProblem(
            forward: base.sde, priorScore: base.problem.priorScore, terminalCost: .amortizedLikelihood(base.observationModel),
            grid: base.grid, dimension: 2)
        var generator = PhiloxRandom(seed: 12)
        let features = AffineHTransform<Double>.randomFeatures(dimension: 2, count: 3, scale: 1, using: &generator)
        let model = AffineHTransform<Double>(
            dimension: 2, contextDimension: 2, timeBasis: .chebyshev(degreeCount: 3, interval: 0...1), stateFeatures: features)
        let normalizer = QuadraticLogNormalizer<Double>(contextDimension: 2)
        for parameter in model.parameters + normalizer.parameters {
            parameter.value = Tensor.normal(shape: parameter.shape, standardDeviation: 0.5, using: &generator)
        }
        let context = Tensor<Double>.normal(shape: [16, 2], using: &generator)
        let randomness = problem.randomness(batch: 16, seed: 13)
        let reference = ReferenceProcess<Double>(drift: .prior)

        let evaluation = try problem.trajectoryBalance(
            model, logNormalizer: normalizer, randomness: randomness, reference: reference, context: context)
        let check = try directionalDerivatives(model.parameters + normalizer.parameters, gradients: evaluation.gradients, seed: 14) {
            try problem.trajectoryBalance(
                model, logNormalizer: normalizer, randomness: randomness, reference: reference, context: context).loss
        }
        XCTAssertLessThan(relativeDifference(check.finiteDifference, check.analytic), 1e-6)
    }

    // MARK: Gradient methods on the same Brownian path

    /// Reversible Heun's backward pass reconstructs every step algebraically and takes its
    /// exact vector–Jacobian product, so it reproduces backpropagation through the same
    /// reversible Heun solve (trapezoidal running cost) to rounding: 1e-6 relative.
    func testReversibleAdjointMatchesBackpropagation() throws {
        let (fixture, model) = makeGradientTestProblem()
        let randomness = fixture.problem.randomness(batch: 16, seed: 7)
        let backpropagation = try fixture.problem.relativeEntropy(
            model, randomness: randomness, gradient: .backpropagation, quadrature: .trapezoid, solver: ReversibleHeun())
        let reversible = try fixture.problem.relativeEntropy(
            model, randomness: randomness, gradient: .reversible, solver: ReversibleHeun())
        XCTAssertEqual(backpropagation.loss, reversible.loss, accuracy: 1e-12 * Swift.abs(backpropagation.loss))
        XCTAssertLessThan(relativeDifference(backpropagation.gradients, reversible.gradients), 1e-6)
    }

    /// The checkpointed adjoint (binomial checkpointing, the default ⌈log₂ N⌉ stored
    /// states) takes the vector–Jacobian product of each Euler–Maruyama step that
    /// backpropagation records. So on this contracting problem, where the stochastic
    /// adjoint drifts off, the two agree to rounding: 1e-10 relative at 48, 96 and 192
    /// steps, for the left-point rule (the default of both) and the trapezoidal rule.
    func testCheckpointedAdjointEqualsBackpropagation() throws {
        for steps in [48, 96, 192] {
            let fixture = GaussianControlFixture(dimension: 2, steps: steps)
            let (_, model) = makeGradientTestProblem()
            let randomness = fixture.problem.randomness(batch: 16, seed: 8)
            for quadrature in [RunningCostQuadrature.leftPoint, .trapezoid] {
                let name = "\(steps) steps, \(quadrature)"
                let backpropagation = try fixture.problem.relativeEntropy(
                    model, randomness: randomness, gradient: .backpropagation, quadrature: quadrature)
                let checkpointed = try fixture.problem.relativeEntropy(
                    model, randomness: randomness, gradient: .checkpointed(), quadrature: quadrature)
                XCTAssertEqual(backpropagation.loss, checkpointed.loss, accuracy: 1e-12 * Swift.abs(backpropagation.loss), name)
                XCTAssertLessThan(relativeDifference(backpropagation.gradients, checkpointed.gradients), 1e-10, name)
            }
        }
        let (fixture, model) = makeGradientTestProblem()
        XCTAssertThrowsError(
            try fixture.problem.relativeEntropy(
                model, randomness: fixture.problem.randomness(batch: 4, seed: 8), gradient: .checkpointed(), checkpointInterval: 8))
    }

    /// The stochastic adjoint solves the continuous adjoint SDE backwards with
    /// Euler–Maruyama on the same Brownian path, reconstructing the state on the way. It
    /// differs from backpropagation through the Euler–Maruyama solve by the discretisation
    /// errors of both, O(h). The reverse-time diffusion contracts towards the data, so the
    /// backward reconstruction amplifies local errors, by about exp(∫ β (‖S⁻¹‖ − ½) dt).
    /// With a checkpoint every 8 steps the relative difference must shrink by at least a
    /// factor 1.6 per halving of the step (2 for an exact first-order error). It must
    /// also fall below 2 % at 192 steps. (Without checkpoints it was 75 %, 80 % and 29 % at 48, 96
    /// and 192 steps when this test was written.)
    func testStochasticAdjointConvergesToBackpropagation() throws {
        var differences: [Double] = []
        for steps in [48, 96, 192] {
            let fixture = GaussianControlFixture(dimension: 2, steps: steps)
            let (_, model) = makeGradientTestProblem()
            let randomness = fixture.problem.randomness(batch: 16, seed: 8)
            let backpropagation = try fixture.problem.relativeEntropy(
                model, randomness: randomness, gradient: .backpropagation, quadrature: .trapezoid)
            let adjoint = try fixture.problem.relativeEntropy(
                model, randomness: randomness, gradient: .adjoint(), checkpointInterval: 8)
            XCTAssertEqual(backpropagation.loss, adjoint.loss, accuracy: 1e-12 * Swift.abs(adjoint.loss))
            differences.append(relativeDifference(backpropagation.gradients, adjoint.gradients))
        }
        print("adjoint against backpropagation, relative gradient differences at 48, 96, 192 steps: \(differences)")
        XCTAssertGreaterThan(differences[0] / differences[1], 1.6)
        XCTAssertGreaterThan(differences[1] / differences[2], 1.6)
        XCTAssertLessThan(differences[2], 0.02)
    }
}

/// Returns a d = 2 problem with 24 steps and an affine model with non-zero parameters.
func makeGradientTestProblem() -> (GaussianControlFixture, AffineHTransform<Double>) {
    let fixture = GaussianControlFixture(dimension: 2, steps: 24)
    let model = AffineHTransform<Double>(dimension: 2, timeBasis: .piecewiseLinear(knots: [0, 0.1, 0.4, 1]))
    var generator = PhiloxRandom(seed: 5)
    for parameter in model.parameters {
        parameter.value = Tensor.normal(shape: parameter.shape, standardDeviation: 0.7, using: &generator)
    }
    return (fixture, model)
}

func relativeDifference(_ a: Double, _ b: Double) -> Double {
    Swift.abs(a - b) / Swift.max(Swift.abs(a), Swift.abs(b))
}

func relativeDifference(_ a: [Tensor<Double>], _ b: [Tensor<Double>]) -> Double {
    let difference = zip(a, b).reduce(0) { $0 + (($1.0 - $1.1) * ($1.0 - $1.1)).sum() }
    let scale = Swift.max(a.reduce(0) { $0 + ($1 * $1).sum() }, b.reduce(0) { $0 + ($1 * $1).sum() })
    return (difference / scale).squareRoot()
}

