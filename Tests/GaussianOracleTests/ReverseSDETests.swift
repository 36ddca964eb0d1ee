import Foundation
import GaussianOracle
import SDECore
import Tensors
import XCTest

/// Simulation checks of the exact h-transform: the conditional reverse VP SDE samples the
/// posterior (a), path measures obey dQ*/dP = p(y | X₀)/p(y) (c), and h* attains the
/// optimal control cost J* from a fixed start law (d).
///
/// Paths use Euler–Maruyama on grids of 2^k steps with `GridBrownianPath`. Every
/// tolerance is 4 to 4.5 standard errors computed from the samples themselves, plus an
/// explicit allowance for the time discretisation where one is stated. With at most
/// about 150 compared quantities, the chance that a correct implementation fails one is
/// below 1 %, and the seeds are fixed.
final class ReverseSDETests: XCTestCase {
    /// β(t) linear from 0.1 to 20 on [0, 1]: ᾱ(1) ≈ 4.3e-5.
    let sde = VPSDE<Double>(schedule: .linear(betaMin: 0.1, betaMax: 20), horizon: 1)

    // MARK: - (a) The conditional reverse SDE samples the posterior

    func testConditionalReverseSDESamplesPosterior() throws {
        let steps = 256
        for d in [1, 2, 8] {
            let problem = GaussianTestProblem(dimension: d)
            let oracle = problem.oracle
            let start = oracle.diffusedTarget(alphaBar: sde.alphaBar(1))
            let paths = try ConditionalPaths(oracle: oracle, sde: sde, startLaw: start, count: 8000, steps: steps, seed: 3)
            let moments = SampleMoments(paths.terminal)

            // The exact law of the simulated chain separates sampling error from the
            // discretisation error, which the second check bounds deterministically.
            let chain = eulerMaruyamaLaw(
                start: start, grid: TimeGrid(from: 1, to: 0, steps: steps),
                drift: { oracle.conditionalReverseDrift(sde: self.sde, at: $0) }, diffusion: { self.sde.beta($0).squareRoot() })
            let meanErrors = moments.meanStandardErrors
            let covarianceErrors = moments.covarianceStandardErrors(reference: chain.covariance)
            let target = oracle.target
            for i in 0..<d {
                XCTAssertLessThan(
                    Swift.abs(moments.mean[i] - chain.mean[i]), 4.5 * meanErrors[i],
                    "d = \(d): sample mean \(i) is \(moments.mean[i]), the chain's \(chain.mean[i])")
                let meanBias = Swift.abs(chain.mean[i] - target.mean[i])
                XCTAssertLessThan(
                    Swift.abs(moments.mean[i] - target.mean[i]), 4.5 * meanErrors[i] + meanBias,
                    "d = \(d): sample mean \(i) is \(moments.mean[i]), the posterior's \(target.mean[i])")
                for j in 0..<d {
                    XCTAssertLessThan(
                        Swift.abs(moments.covariance[i, j] - chain.covariance[i, j]), 4.5 * covarianceErrors[i, j],
                        "d = \(d): sample covariance (\(i), \(j)) against the chain's")
                    let covarianceBias = Swift.abs(chain.covariance[i, j] - target.covariance[i, j])
                    XCTAssertLessThan(
                        Swift.abs(moments.covariance[i, j] - target.covariance[i, j]), 4.5 * covarianceErrors[i, j] + covarianceBias,
                        "d = \(d): sample covariance (\(i), \(j)) against the posterior's")
                }
            }

            // Weak order 1: the chain's W2 to the posterior falls about 4× from 256 to
            // 1024 steps.
            let fineChain = eulerMaruyamaLaw(
                start: start, grid: TimeGrid(from: 1, to: 0, steps: 4 * steps),
                drift: { oracle.conditionalReverseDrift(sde: self.sde, at: $0) }, diffusion: { self.sde.beta($0).squareRoot() })
            let coarseDistance = chain.wassersteinDistance(to: target)
            let fineDistance = fineChain.wassersteinDistance(to: target)
            let sampleDistance = try moments.fittedNormal().wassersteinDistance(to: target)
            print("d = \(d): W2 to the posterior of the samples' Gaussian \(sampleDistance); of the chain's law at \(steps) steps \(coarseDistance), at \(4 * steps) steps \(fineDistance)")
            XCTAssertEqual(coarseDistance / fineDistance, 4, accuracy: 1, "d = \(d): W2 \(coarseDistance) then \(fineDistance)")
        }
    }

    func testTerminalErrorFromStandardNormalDecaysExponentially() throws {
        // Started from N(0, I) instead of the diffused posterior, the terminal mean is off
        // by −ᾱ_T K μ_π (see `controlledTerminalLaw`). With β linear from 0.1 to 20 on
        // [0, T], ln ᾱ_T = −10.05 T, so ln ‖error‖ falls with slope about −10 in T. The
        // horizons keep the error above 3 standard errors of its norm.
        for (d, count, horizons) in [(2, 10_000, [0.1, 0.2, 0.3, 0.4]), (8, 4000, [0.05, 0.1, 0.15, 0.2])] {
            let problem = GaussianTestProblem(dimension: d)
            let oracle = problem.oracle
            let standard = MultivariateNormal.standard(dimension: d)
            var measured: [Double] = []
            var predicted: [Double] = []
            var logErrorVariances: [Double] = []
            for horizon in horizons {
                let sde = VPSDE<Double>(schedule: .linear(betaMin: 0.1, betaMax: 20), horizon: horizon)
                let paths = try ConditionalPaths(oracle: oracle, sde: sde, startLaw: standard, count: count, steps: 256, seed: 11)
                let moments = SampleMoments(paths.terminal)
                let law = oracle.controlledTerminalLaw(start: standard, alphaBarAtHorizon: sde.alphaBar(horizon))
                for i in 0..<d {
                    XCTAssertLessThan(
                        Swift.abs(moments.mean[i] - law.mean[i]), 4.5 * moments.meanStandardErrors[i] + 2e-3,
                        "d = \(d), T = \(horizon): mean \(i) against the closed-form terminal law (2e-3 allows for 256 steps)")
                }

                // E‖x̄ − μ_π‖² = ‖bias‖² + tr(Σ)/n, so subtract the sampling term; the norm's
                // standard error is at most √(tr(Σ)/n), so Var[ln ‖error‖] ≤ (tr(Σ)/n) / ‖error‖².
                let noise = moments.covariance.trace / Double(count)
                let difference = zip(moments.mean, oracle.target.mean).map { $0 - $1 }
                let squared = difference.reduce(0) { $0 + $1 * $1 } - noise
                XCTAssertGreaterThan(squared, 9 * noise, "d = \(d), T = \(horizon): the error must stand above the noise")
                measured.append(0.5 * Foundation.log(Swift.max(squared, 1e-30)))
                logErrorVariances.append(noise / Swift.max(squared, 1e-30))
                predicted.append(Foundation.log(zip(law.mean, oracle.target.mean).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()))
            }

            // The least-squares slope is Σ cᵢ ln eᵢ with cᵢ = (Tᵢ − T̄) / Σ (Tⱼ − T̄)².
            let meanHorizon = horizons.reduce(0, +) / Double(horizons.count)
            let spread = horizons.reduce(0) { $0 + ($1 - meanHorizon) * ($1 - meanHorizon) }
            let slopeError = zip(horizons, logErrorVariances).reduce(0) {
                $0 + ($1.0 - meanHorizon) * ($1.0 - meanHorizon) / (spread * spread) * $1.1
            }.squareRoot()
            let measuredRate = -leastSquaresSlope(x: horizons, y: measured)
            let predictedRate = -leastSquaresSlope(x: horizons, y: predicted)
            print("d = \(d): fitted decay rate of the terminal mean error \(measuredRate) ± \(slopeError) (closed form \(predictedRate), (βmin + βmax)/2 = 10.05)")
            XCTAssertEqual(measuredRate, predictedRate, accuracy: 4 * slopeError, "d = \(d)")
            XCTAssertEqual(predictedRate, 10.05, accuracy: 1.5, "d = \(d)")
        }
    }

    // MARK: - (c) Path measures and (d) the optimal control cost

    /// Paths from N(0, I) at T = 0.15 (ᾱ_T ≈ 0.22, so that starting from N(0, I) rather
    /// than p_T changes J* visibly) for d = 1, 2, 8 and 128 and 512 steps, shared by the
    /// path-measure tests.
    static let controlHorizon = 0.15
    static let controlStepCounts = [128, 512]
    nonisolated(unsafe) static var controlPaths: [Int: [ConditionalPaths]] = [:]

    func controlPaths(dimension d: Int, oracle: GaussianDiffusionOracle) throws -> [ConditionalPaths] {
        if let cached = Self.controlPaths[d] { return cached }
        let sde = VPSDE<Double>(schedule: .linear(betaMin: 0.1, betaMax: 20), horizon: Self.controlHorizon)
        let paths = try Self.controlStepCounts.map { steps in
            try ConditionalPaths(
                oracle: oracle, sde: sde, startLaw: .standard(dimension: d), count: 4000, steps: steps, seed: 5)
        }
        Self.controlPaths[d] = paths
        return paths
    }

    func testGirsanovLogRatioMatchesLikelihoodRatio() throws {
        // log dQ*/dP, with Q* started from p_T(· | y) and P from p_T, is the Girsanov sum
        // (same start law) plus the start term ln p_T(X_T | y) − ln p_T(X_T), and equals
        // ln p(y | X₀) − ln p(y) along each path. The Itô sum converges with strong order
        // ½, so the residual's RMS halves from 128 to 512 steps.
        for d in [1, 2, 8] {
            let problem = GaussianTestProblem(dimension: d)
            let oracle = problem.oracle
            let alphaBar = VPSDE<Double>(schedule: .linear(betaMin: 0.1, betaMax: 20), horizon: Self.controlHorizon)
                .alphaBar(Self.controlHorizon)
            let diffusedPosterior = oracle.diffusedTarget(alphaBar: alphaBar)
            let marginal = oracle.marginal(alphaBar: alphaBar)
            let terminalLogLikelihood = oracle.logConditionalWeight(alphaBar: alphaBar)

            var rootMeanSquares: [Double] = []
            for paths in try controlPaths(dimension: d, oracle: oracle) {
                let logLikelihood = evaluateRows(oracle.tilt.logWeight, paths.terminal)
                var residuals: [Double] = []
                for row in 0..<paths.start.shape[0] {
                    let xT = paths.start.slice(alongAxis: 0, row..<(row + 1)).scalars
                    let startTerm = diffusedPosterior.logDensity(xT) - marginal.logDensity(xT)
                    // Bayes: p_T(x | y) / p_T(x) = p_T(y | x) / p(y).
                    XCTAssertEqual(startTerm, terminalLogLikelihood(xT) - oracle.logNormalizer, accuracy: 1e-9)
                    let logRatio = paths.logRatio[row, 0] + startTerm
                    residuals.append(logRatio - (logLikelihood[row] - oracle.logNormalizer))
                }
                rootMeanSquares.append((residuals.reduce(0) { $0 + $1 * $1 } / Double(residuals.count)).squareRoot())

                let spread = meanAndStandardError(logLikelihood).standardError * Double(logLikelihood.count).squareRoot()
                XCTAssertLessThan(rootMeanSquares.last!, 0.5 * spread, "d = \(d): residual RMS against the spread \(spread) of ln p(y | X₀)")
            }
            print("d = \(d): RMS of log dQ*/dP − (ln p(y | X₀) − ln p(y)) at \(Self.controlStepCounts) steps: \(rootMeanSquares)")
            XCTAssertEqual(rootMeanSquares[0] / rootMeanSquares[1], 2, accuracy: 0.3, "d = \(d): strong order ½ gives a ratio of 2")
        }
    }

    func testExactHTransformAttainsOptimalControlCost() throws {
        // J(h*) = E[½ ∫ σ² ‖h*‖² dt − ln p(y | X₀)] from X_T ~ N(0, I) equals
        // J* = −E_{N(0, I)}[ln p_T(y | X_T)], not −E_{p_T}[ln p_T(y | X_T)]. Each path's cost
        // gets the Itô sum Σ σ h* · ΔW added, a control variate with mean exactly zero on
        // the discrete chain. The O(Δt) bias is removed by Richardson extrapolation over
        // 128 and 512 steps, J ≈ (4 J₅₁₂ − J₁₂₈)/3, with the standard error bound
        // (4 s₅₁₂ + s₁₂₈)/3 (the two runs share their start points).
        for d in [1, 2, 8] {
            let problem = GaussianTestProblem(dimension: d)
            let oracle = problem.oracle
            let alphaBar = VPSDE<Double>(schedule: .linear(betaMin: 0.1, betaMax: 20), horizon: Self.controlHorizon)
                .alphaBar(Self.controlHorizon)
            let standard = MultivariateNormal.standard(dimension: d)

            var costs: [(mean: Double, standardError: Double)] = []
            var floors: [(value: Double, standardError: Double)] = []
            for paths in try controlPaths(dimension: d, oracle: oracle) {
                let logLikelihood = evaluateRows(oracle.tilt.logWeight, paths.terminal)
                let count = logLikelihood.count
                let cost = (0..<count).map { paths.controlEnergy[$0, 0] - logLikelihood[$0] + paths.martingale[$0, 0] }
                costs.append(meanAndStandardError(cost))

                // The log-variance loss at h*: Var[log dQ*/dP^ν − ln p(y | X₀)].
                floors.append(varianceAndStandardError((0..<count).map { paths.logRatio[$0, 0] - logLikelihood[$0] }))
            }
            let cost = (4 * costs[1].mean - costs[0].mean) / 3
            let costError = (4 * costs[1].standardError + costs[0].standardError) / 3
            let optimal = oracle.optimalControlCost(start: standard, alphaBarAtHorizon: alphaBar)
            let fromMarginal = oracle.optimalControlCost(start: oracle.marginal(alphaBar: alphaBar), alphaBarAtHorizon: alphaBar)
            print("d = \(d): J(h*) = \(cost) ± \(costError), J* = \(optimal), −E_{p_T}[ln p_T(y | X_T)] = \(fromMarginal)")
            XCTAssertEqual(cost, optimal, accuracy: 4 * costError, "d = \(d)")
            XCTAssertGreaterThan(Swift.abs(cost - fromMarginal), 4 * costError, "d = \(d): the start law must matter at ᾱ_T ≈ 0.22")

            let floor = (4 * floors[1].value - floors[0].value) / 3
            let floorError = (4 * floors[1].standardError + floors[0].standardError) / 3
            let expectedFloor = oracle.terminalLogWeightVariance(start: standard, alphaBarAtHorizon: alphaBar)
            print("d = \(d): log-variance floor \(floor) ± \(floorError), closed form \(expectedFloor)")
            XCTAssertEqual(floor, expectedFloor, accuracy: 4 * floorError, "d = \(d)")
        }
    }
}

/// Returns the least-squares slope of y on x.
func leastSquaresSlope(x: [Double], y: [Double]) -> Double {
    let n = Double(x.count)
    let (meanX, meanY) = (x.reduce(0, +) / n, y.reduce(0, +) / n)
    let covariance = zip(x, y).reduce(0) { $0 + ($1.0 - meanX) * ($1.1 - meanY) }
    let variance = x.reduce(0) { $0 + ($1 - meanX) * ($1 - meanX) }
    return covariance / variance
}

/// Returns the unbiased sample variance of `values` and its standard error
/// √((m₄ − s⁴)/n), with m₄ the fourth central moment, which is valid without normality.
func varianceAndStandardError(_ values: [Double]) -> (value: Double, standardError: Double) {
    let n = Double(values.count)
    let mean = values.reduce(0, +) / n
    let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
    let fourth = values.reduce(0) { $0 + Foundation.pow($1 - mean, 4) } / n
    return (variance, (Swift.max(fourth - variance * variance, 0) / n).squareRoot())
}
