import Foundation
import SDECore
import Tensors
import XCTest

final class PathMeasureTests: XCTestCase {
    /// Two drifts differing by 0.3 under diffusion 0.5: u = 0.3 / 0.5 = 0.6 and the path KL
    /// ½ ∫ u² dt over [0, 1] is 0.18 on every path. The trapezoidal rule integrates the
    /// constant exactly, so only rounding separates the values from 0.18.
    func testConstantDriftGapGivesExactPathKL() throws {
        let batch = 50
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [batch, 1], seed: 3)
        let reference: (Double, Variable<Double>) -> Variable<Double> = { _, x in -x }
        let target: (Double, Variable<Double>) -> Variable<Double> = { _, x in -x + 0.3 }
        let sigma = Tensor<Double>(shape: [batch, 1], repeating: 0.5)
        let control: (Double, Variable<Double>) -> Variable<Double> = { t, x in
            controlFromDrifts(reference: reference(t, x), target: target(t, x), diagonalDiffusion: Variable(sigma))
        }
        let q = ClosureSDE<Double>(
            noiseType: .additive(.diagonal), drift: target, diffusion: { _, _ in Variable(sigma) })
        let solution = try solve(
            q, x0: Variable(fixedTensor([batch, 1])), from: 0, to: 1, steps: 100, brownian: tree,
            gradient: .detached, runningCost: controlEnergy(control: control), recordPath: true)
        for kl in solution.runningCost!.value.scalars {
            XCTAssertEqual(kl, 0.18, accuracy: 1e-13)
        }

        // Along the Q path (v = u), log dQ/dP = ∫ u (u dt + dW) − ½ ∫ u² dt = 0.18 + 0.6 W₁ exactly.
        let logRatio = logRadonNikodym(along: solution.path!, control: control, samplingControl: control).value
        let w1 = tree.increment(from: 0, to: 1).dW
        XCTAssertLessThan(maxAbsoluteDifference(logRatio, w1 * 0.6 + 0.18), 1e-12)

        // Along a path simulated under P (no sampling control), log dQ/dP = 0.6 W₁ − 0.18.
        let fromP = logRadonNikodym(along: solution.path!, control: control).value
        XCTAssertLessThan(maxAbsoluteDifference(fromP, w1 * 0.6 - 0.18), 1e-12)

        // A third sampling drift v = −0.2: log dQ/dP = 0.6 (−0.2 + W₁) − 0.18.
        let third = logRadonNikodym(
            along: solution.path!, control: control, samplingControl: { _, x in Variable(Tensor(shape: x.shape, repeating: -0.2)) }
        ).value
        XCTAssertLessThan(maxAbsoluteDifference(third, w1 * 0.6 - 0.12 - 0.18), 1e-12)
    }

    /// The accumulator used as `onStep` gives the same sum as the recorded path. Backwards
    /// in time the increment carries the sign of the step, so E_Q[log dQ/dP] is still the
    /// positive KL.
    func testAccumulatorMatchesRecordedPathInBothDirections() throws {
        let batch = 8
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [batch, 2], seed: 5)
        let control: (Double, Variable<Double>) -> Variable<Double> = { t, x in tanh(x) * (1 + t) }
        let sde = ClosureSDE<Double>(
            noiseType: .additive(.diagonal), drift: { t, x in -x + control(t, x) * 0.7 },
            diffusion: { _, x in Variable(Tensor(shape: x.shape, repeating: 0.7)) })
        for (t0, t1) in [(0.0, 1.0), (1.0, 0.0)] {
            let accumulator = LogRadonNikodymAccumulator<Double>(control: control, samplingControl: control)
            let solution = try solve(
                sde, x0: Variable(fixedTensor([batch, 2])), from: t0, to: t1, steps: 20, brownian: tree,
                gradient: .detached, recordPath: true, onStep: accumulator.observe)
            let fromPath = logRadonNikodym(along: solution.path!, control: control, samplingControl: control).value
            XCTAssertLessThan(maxAbsoluteDifference(accumulator.value!.value, fromPath), 1e-14)
        }

        // Backwards with constant u: each step adds −u (u Δt + ΔW) − ½ u² |Δt| = ½ u² |Δt| − u ΔW.
        let u = 0.4
        let constant: (Double, Variable<Double>) -> Variable<Double> = { _, x in Variable(Tensor(shape: x.shape, repeating: u)) }
        let backward = try solve(
            sde, x0: Variable(fixedTensor([batch, 2])), from: 1, to: 0, steps: 16, brownian: tree, gradient: .detached,
            recordPath: true)
        let logRatio = logRadonNikodym(along: backward.path!, control: constant, samplingControl: constant).value
        let totalNoise = tree.increment(from: 1, to: 0).dW.sum(alongAxes: [1])
        XCTAssertLessThan(maxAbsoluteDifference(logRatio, totalNoise * -u + 2 * 0.5 * u * u), 1e-12)
    }

    /// Importance sampling Q from P: P is dX = −X dt + 0.5 dW and Q adds the constant
    /// drift σu = 0.5 · 0.8, so E_Q[X₁] = x₀ e^{−1} + 0.4 (1 − e^{−1}). Weighting 20,000 P
    /// paths by exp(log dQ/dP) must recover it within 4.5 standard errors (the
    /// self-normalised estimator's error, estimated by the delta method), and
    /// log E_P[dQ/dP] = 0 within 4.5 standard errors of the weights' mean.
    func testImportanceWeightsRecoverTargetMean() throws {
        let batch = 20_000
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [batch, 1], seed: 17)
        let p = ClosureSDE<Double>(
            noiseType: .additive(.diagonal), drift: { _, x in -x },
            diffusion: { _, x in Variable(Tensor(shape: x.shape, repeating: 0.5)) })
        let control: (Double, Variable<Double>) -> Variable<Double> = { _, x in Variable(Tensor(shape: x.shape, repeating: 0.8)) }
        let accumulator = LogRadonNikodymAccumulator<Double>(control: control)
        let solution = try solve(
            p, x0: Variable(Tensor(shape: [batch, 1], repeating: 1)), from: 0, to: 1, steps: 64, brownian: tree,
            gradient: .detached, onStep: accumulator.observe)
        let logWeights = accumulator.value!.value
        let weights = normalizedImportanceWeights(logWeights)
        let x = solution.terminal.value
        let estimate = (weights * x).sum()
        let expected = Foundation.exp(-1) + 0.4 * (1 - Foundation.exp(-1))
        // Delta-method standard error of Σ w̄ᵢ xᵢ: √(Σ w̄ᵢ² (xᵢ − estimate)²).
        let standardError = (weights * weights * (x - estimate) * (x - estimate)).sum().squareRoot()
        XCTAssertEqual(estimate, expected, accuracy: 4.5 * standardError + 0.005)

        let raw = exp(logWeights).scalars
        let (_, rawError) = meanAndStandardError(raw)
        XCTAssertEqual(logNormalizerEstimate(logWeights: logWeights), 0, accuracy: 4.5 * rawError)
        let ess = effectiveSampleSize(logWeights: logWeights)
        // For log-normal weights with log-variance s² = 0.64, ESS/N → e^{−s²} = 0.527.
        XCTAssertEqual(ess / Double(batch), Foundation.exp(-0.64), accuracy: 0.03)
    }

    func testWeightSummariesOnKnownWeights() {
        let equal = Tensor<Double>(shape: [10, 1], repeating: 1000)
        XCTAssertEqual(effectiveSampleSize(logWeights: equal), 10, accuracy: 1e-12)
        XCTAssertEqual(logNormalizerEstimate(logWeights: equal), 1000, accuracy: 1e-12)
        XCTAssertEqual(normalizedImportanceWeights(equal).scalars, Array(repeating: 0.1, count: 10))

        let dominant = Tensor<Double>([0, -800, -900, -1000])
        XCTAssertEqual(effectiveSampleSize(logWeights: dominant), 1, accuracy: 1e-12)
        XCTAssertEqual(logNormalizerEstimate(logWeights: dominant), -Foundation.log(4), accuracy: 1e-12)
        XCTAssertEqual(logSumExp(Variable(Tensor<Double>([1, 2, 3]))).value.scalar, Foundation.log(Foundation.exp(1) + Foundation.exp(2) + Foundation.exp(3)), accuracy: 1e-12)
    }

    func testGirsanovTermsMatchFiniteDifferences() {
        let dW = fixedTensor([3, 2], seed: 9) * 0.3
        for dt in [0.1, -0.1] {
            let result = checkGradients(at: [fixedTensor([3, 2], seed: 1), fixedTensor([3, 2], seed: 2)]) { inputs in
                girsanovLogRatioIncrement(control: inputs[0], samplingControl: inputs[1], dt: dt, dW: dW)
            }
            XCTAssertLessThan(result.maxRelativeError, 1e-6, "\(result)")
        }
        XCTAssertLessThan(checkGradients(at: [fixedTensor([5])]) { logSumExp($0[0] * 3) }.maxRelativeError, 1e-6)
        let energy = controlEnergy { _, x in tanh(x) * 2.0 }
        XCTAssertLessThan(checkGradients(at: [fixedTensor([4, 3])]) { energy(0.5, $0[0]) }.maxRelativeError, 1e-6)
        let control = checkGradients(at: [fixedTensor([2, 3]), fixedTensor([2, 3], seed: 4), fixedTensor([2, 3], seed: 5) + 2]) {
            controlFromDrifts(reference: $0[0], target: $0[1], diagonalDiffusion: $0[2])
        }
        XCTAssertLessThan(control.maxRelativeError, 1e-6)
    }

    /// A log-variance-style gradient on a detached path: the per-step gradient
    /// (one step's graph at a time) equals the gradient of the whole sum's graph, and both
    /// match finite differences of the control's parameters with the path held fixed.
    func testPerStepGradientsOnDetachedPath() throws {
        let batch = 6
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [batch, 2], seed: 23)
        let weight = Variable(fixedTensor([2, 2], seed: 7), requiresGrad: true)
        let control: (Double, Variable<Double>) -> Variable<Double> = { t, x in tanh(matmul(x, weight)) * (1 + t) }
        let sde = ClosureSDE<Double>(
            noiseType: .additive(.diagonal), parameters: [weight], drift: { t, x in -x + control(t, x) * 0.5 },
            diffusion: { _, x in Variable(Tensor(shape: x.shape, repeating: 0.5)) })
        let solution = try solve(
            sde, x0: Variable(fixedTensor([batch, 2], seed: 8)), from: 0, to: 1, steps: 32, brownian: tree,
            gradient: .detached, recordPath: true)
        let path = solution.path!
        let frozen = Variable(weight.value)
        let samplingControl: (Double, Variable<Double>) -> Variable<Double> = { t, x in tanh(matmul(x, frozen)) * (1 + t) }
        let term: (SDEStep<Double>) -> Variable<Double> = { step in
            girsanovLogRatioIncrement(
                control: control(step.t0, step.x0), samplingControl: samplingControl(step.t0, step.x0), dt: step.dt,
                dW: step.increment.dW)
        }
        let cotangent = fixedTensor([batch, 1], seed: 10)

        let perStep = path.gradientOfSumOverSteps(cotangent: cotangent, parameters: [weight], term)[0]
        let whole = Tensors.gradients(
            of: logRadonNikodym(along: path, control: control, samplingControl: samplingControl),
            withRespectTo: [weight], cotangent: cotangent)[0]
        XCTAssertLessThan(maxAbsoluteDifference(perStep, whole), 1e-12)
        let values = path.sumOverSteps(term)
        XCTAssertLessThan(
            maxAbsoluteDifference(values, logRadonNikodym(along: path, control: control, samplingControl: samplingControl).value), 1e-12)

        let result = checkGradients(at: [], parameters: [weight]) { _ in
            logRadonNikodym(along: path, control: control, samplingControl: samplingControl)
        }
        XCTAssertLessThan(result.maxRelativeError, 1e-6, "\(result)")
    }
}
