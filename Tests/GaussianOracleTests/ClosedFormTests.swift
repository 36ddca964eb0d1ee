import GaussianOracle
import SDECore
import Tensors
import XCTest

/// Checks each closed form of the oracle against a second, independent derivation:
/// generic Gaussian conditioning of an explicitly built joint law, precision-form
/// posteriors, finite differences of log-densities, or Bayes' rule on scores.
///
/// All comparisons are deterministic, in Double. The tolerances allow for the rounding
/// of products and solves of well-conditioned matrices of size at most 8 (about 1e-13
/// relative) and, for finite differences with step 1e-5 of smooth quadratics, for the
/// rounding error ε |f| / h ≈ 1e-10.
final class ClosedFormTests: XCTestCase {
    let dimensions = [1, 2, 8]
    let noiseLevels = [1.0, 0.9, 0.5, 0.1, 1e-3, 0.0]

    /// Returns the joint law of (X₀, X_t, Y) for level ᾱ, coordinates in that order.
    func jointLaw(_ problem: GaussianTestProblem, alphaBar: Double) -> (mean: [Double], covariance: Matrix) {
        let (s, m, a) = (problem.prior.covariance, problem.prior.mean, problem.operatorMatrix)
        let (d, k) = (problem.dimension, a.rows)
        let root = alphaBar.squareRoot()
        let identity = Matrix(identity: d)
        let blocks: [[Matrix]] = [
            [s, s * root, s * a.transposed],
            [s * root, s * alphaBar + identity * (1 - alphaBar), s * a.transposed * root],
            [a * s, a * s * root, a * s * a.transposed + Matrix(identity: k) * (problem.noiseStd * problem.noiseStd)],
        ]
        let sizes = [d, d, k]
        let total = sizes.reduce(0, +)
        var covariance = Matrix(zeros: total, total)
        var rowStart = 0
        for (blockRow, rowSize) in sizes.enumerated() {
            var columnStart = 0
            for (blockColumn, columnSize) in sizes.enumerated() {
                for i in 0..<rowSize {
                    for j in 0..<columnSize {
                        covariance[rowStart + i, columnStart + j] = blocks[blockRow][blockColumn][i, j]
                    }
                }
                columnStart += columnSize
            }
            rowStart += rowSize
        }
        return (m + m.map { $0 * root } + a * m, covariance)
    }

    func testPosteriorMatchesPrecisionForm() {
        for d in dimensions {
            let problem = GaussianTestProblem(dimension: d)
            let (s, a, sigma) = (problem.prior.covariance, problem.operatorMatrix, problem.noiseStd)
            let precision = try! s.inversePositiveDefinite() + a.transposed * a * (1 / (sigma * sigma))
            let covariance = try! precision.inversePositiveDefinite()
            let information = try! s.solvePositiveDefinite(problem.prior.mean).enumerated().map { index, value in
                value + (a.transposed * problem.observation)[index] / (sigma * sigma)
            }
            let mean = covariance * information

            let posterior = problem.oracle.target
            XCTAssertLessThan(maximumDifference(posterior.mean, mean), 1e-11, "d = \(d)")
            XCTAssertLessThan(maximumDifference(posterior.covariance, covariance), 1e-11, "d = \(d)")
        }
    }

    func testLogEvidenceMatchesMarginalDensity() {
        for d in dimensions {
            let problem = GaussianTestProblem(dimension: d)
            let evidence = problem.observationModel.evidence(prior: problem.prior)
            XCTAssertEqual(problem.oracle.logNormalizer, evidence.logDensity(problem.observation), accuracy: 1e-10, "d = \(d)")
        }
    }

    func testTweedieMomentsMatchJointConditioning() {
        for d in dimensions {
            let problem = GaussianTestProblem(dimension: d)
            let x = normalVector(d, stream: d)
            for alphaBar in noiseLevels where alphaBar > 0 && alphaBar < 1 {
                let joint = jointLaw(problem, alphaBar: alphaBar)
                let expected = conditionJointGaussian(
                    mean: joint.mean, covariance: joint.covariance, keep: Array(0..<d), given: Array(d..<(2 * d)), value: x)
                XCTAssertLessThan(maximumDifference(problem.oracle.tweedieMean(x, alphaBar: alphaBar), expected.mean), 1e-10)
                XCTAssertLessThan(maximumDifference(problem.oracle.tweedieCovariance(alphaBar: alphaBar), expected.covariance), 1e-10)
            }
        }
    }

    func testTweedieAtNoiseLevelOneIsIdentity() {
        let problem = GaussianTestProblem(dimension: 8)
        let x = Array(stride(from: -1.0, to: 1.0, by: 0.25))
        XCTAssertLessThan(maximumDifference(problem.oracle.tweedieMean(x, alphaBar: 1), x), 1e-12)
        XCTAssertLessThan(problem.oracle.tweedieCovariance(alphaBar: 1).maximumAbsoluteEntry, 1e-15)
    }

    func testScoreMatchesFiniteDifferences() {
        for d in dimensions {
            let problem = GaussianTestProblem(dimension: d)
            let x = normalVector(d, stream: 10 + d)
            for alphaBar in noiseLevels {
                let marginal = problem.oracle.marginal(alphaBar: alphaBar)
                let numeric = finiteDifferenceGradient({ marginal.logDensity($0) }, at: x)
                XCTAssertLessThan(maximumDifference(problem.oracle.score(x, alphaBar: alphaBar), numeric), 1e-7, "d = \(d), ᾱ = \(alphaBar)")
            }
        }
    }

    func testHTransformIsGradientOfPredictiveLogLikelihood() {
        for d in dimensions {
            let problem = GaussianTestProblem(dimension: d)
            let x = normalVector(d, stream: 20 + d)
            for alphaBar in noiseLevels {
                let logLikelihood = { (point: [Double]) in
                    problem.observationModel.predictiveObservation(given: point, alphaBar: alphaBar, oracle: problem.oracle)
                        .logDensity(problem.observation)
                }
                XCTAssertEqual(
                    problem.oracle.logConditionalWeight(alphaBar: alphaBar)(x), logLikelihood(x), accuracy: 1e-9,
                    "ln p_t(y | x), d = \(d), ᾱ = \(alphaBar)")
                let numeric = finiteDifferenceGradient(logLikelihood, at: x)
                XCTAssertLessThan(
                    maximumDifference(problem.oracle.hTransform(x, alphaBar: alphaBar), numeric), 1e-6,
                    "h*, d = \(d), ᾱ = \(alphaBar)")
            }
        }
    }

    func testHTransformMatchesObservationFormula() {
        // h* = (√ᾱ / (1 − ᾱ)) C_t Aᵀ (A C_t Aᵀ + σ² I)⁻¹ (y − A μ_t(x)) for 0 < ᾱ < 1.
        for d in dimensions {
            let problem = GaussianTestProblem(dimension: d)
            let (a, sigma, oracle) = (problem.operatorMatrix, problem.noiseStd, problem.oracle)
            let x = normalVector(d, stream: 30 + d)
            for alphaBar in noiseLevels where alphaBar > 0 && alphaBar < 1 {
                let c = oracle.tweedieCovariance(alphaBar: alphaBar)
                let r = a * c * a.transposed + Matrix(identity: a.rows) * (sigma * sigma)
                let residual = zip(problem.observation, a * oracle.tweedieMean(x, alphaBar: alphaBar)).map { $0 - $1 }
                let expected = (c * a.transposed * (try! r.solvePositiveDefinite(residual))).map {
                    $0 * alphaBar.squareRoot() / (1 - alphaBar)
                }
                XCTAssertLessThan(maximumDifference(oracle.hTransform(x, alphaBar: alphaBar), expected), 1e-10)
            }
        }
    }

    func testConditionalScoreIsDiffusedPosteriorScore() {
        // Bayes: ∇ ln p_t(x | y) = ∇ ln p_t(x) + ∇ ln p_t(y | x).
        for d in dimensions {
            let problem = GaussianTestProblem(dimension: d)
            let x = normalVector(d, stream: 40 + d)
            for alphaBar in noiseLevels {
                let expected = problem.oracle.diffusedTarget(alphaBar: alphaBar).score(x)
                let actual = problem.oracle.conditionalScoreMap(alphaBar: alphaBar)(x)
                XCTAssertLessThan(maximumDifference(actual, expected), 1e-9, "d = \(d), ᾱ = \(alphaBar)")
            }
        }
    }

    func testConditionalTweedieMatchesJointConditioning() {
        // Check (e): x̂₀(x_t) − (√(1 − ᾱ)/√ᾱ) h^φ with h^φ = −√(1 − ᾱ) h* equals E[X₀ | x_t, y].
        for d in dimensions {
            let problem = GaussianTestProblem(dimension: d)
            let oracle = problem.oracle
            let k = problem.operatorMatrix.rows
            let x = normalVector(d, stream: 50 + d)
            for alphaBar in noiseLevels where alphaBar > 0 && alphaBar < 1 {
                let joint = jointLaw(problem, alphaBar: alphaBar)
                let expected = conditionJointGaussian(
                    mean: joint.mean, covariance: joint.covariance, keep: Array(0..<d),
                    given: Array(d..<(2 * d + k)), value: x + problem.observation)

                let unconditional = oracle.tweedieMean(x, alphaBar: alphaBar)
                let correction = oracle.noiseCorrectionMap(alphaBar: alphaBar)(x)
                let factor = (1 - alphaBar).squareRoot() / alphaBar.squareRoot()
                let corrected = zip(unconditional, correction).map { $0 - factor * $1 }
                XCTAssertLessThan(maximumDifference(corrected, expected.mean), 1e-9, "d = \(d), ᾱ = \(alphaBar)")
                XCTAssertLessThan(
                    maximumDifference(oracle.conditionalTweedieMap(alphaBar: alphaBar)(x), expected.mean), 1e-9)
            }
        }
    }

    func testNoiseCorrectionIsConditionalNoiseMean() {
        // E[ε | x_t, y] − ε_θ(x_t) = −√(1 − ᾱ) h*, with E[ε | x_t, y] from the joint law of
        // (ε, X_t, Y): ε has covariance I, Cov(ε, X_t) = √(1 − ᾱ) I, Cov(ε, Y) = 0.
        let problem = GaussianTestProblem(dimension: 2)
        let oracle = problem.oracle
        let alphaBar = 0.4
        let x = [0.3, -1.2]
        let joint = jointLaw(problem, alphaBar: alphaBar)
        let precision = try! Matrix(joint.covariance.rowArrays[2...].map { Array($0[2...]) }).inversePositiveDefinite()
        let crossCovariance = Matrix([[(1 - alphaBar).squareRoot(), 0, 0], [0, (1 - alphaBar).squareRoot(), 0]])
        let shift = zip(x + problem.observation, Array(joint.mean[2...])).map { $0 - $1 }
        let conditionalNoise = crossCovariance * (precision * shift)

        let predicted = oracle.noisePredictionMap(alphaBar: alphaBar)(x)
        let correction = oracle.noiseCorrectionMap(alphaBar: alphaBar)(x)
        XCTAssertLessThan(maximumDifference(zip(predicted, correction).map { $0 + $1 }, conditionalNoise), 1e-10)
    }

    func testLinearRewardTiltShiftsMean() {
        let problem = GaussianTestProblem(dimension: 8)
        let b = (0..<8).map { Double($0) / 8 - 0.4 }
        let oracle = GaussianDiffusionOracle(prior: problem.prior, tilt: .linearReward(b))
        let target = oracle.target
        XCTAssertLessThan(maximumDifference(target.mean, zip(problem.prior.mean, problem.prior.covariance * b).map { $0 + $1 }), 1e-12)
        XCTAssertLessThan(maximumDifference(target.covariance, problem.prior.covariance), 1e-12)

        // ln E[exp(bᵀ X₀) | x_t] = bᵀ μ_t(x) + ½ bᵀ C_t b, whose gradient is B_tᵀ b.
        let x = Array(repeating: 0.2, count: 8)
        for alphaBar in [0.9, 0.3] {
            let mu = oracle.tweedieMean(x, alphaBar: alphaBar)
            let c = oracle.tweedieCovariance(alphaBar: alphaBar)
            let expected = zip(b, mu).reduce(0) { $0 + $1.0 * $1.1 } + 0.5 * zip(b, c * b).reduce(0) { $0 + $1.0 * $1.1 }
            XCTAssertEqual(oracle.logConditionalWeight(alphaBar: alphaBar)(x), expected, accuracy: 1e-10)
        }
        XCTAssertEqual(
            oracle.logNormalizer,
            zip(b, problem.prior.mean).reduce(0) { $0 + $1.0 * $1.1 } + 0.5 * zip(b, problem.prior.covariance * b).reduce(0) { $0 + $1.0 * $1.1 },
            accuracy: 1e-10)
    }

    func testQuadraticRewardTiltMatchesPrecisionForm() {
        let problem = GaussianTestProblem(dimension: 8)
        let (m, s) = (problem.prior.mean, problem.prior.covariance)
        var generator = PhiloxRandom.testGenerator(60)
        let root = Matrix(Tensor<Double>.normal(shape: [8, 8], using: &generator))
        let q = root * root.transposed * 0.25 + Matrix(identity: 8) * 0.1
        let c = Tensor<Double>.normal(shape: [8], using: &generator).scalars
        let oracle = GaussianDiffusionOracle(prior: problem.prior, tilt: .quadraticReward(precision: q, centre: c))

        let precision = try! s.inversePositiveDefinite() + q
        let covariance = try! precision.inversePositiveDefinite()
        let mean = covariance * zip(try! s.solvePositiveDefinite(m), q * c).map { $0 + $1 }
        XCTAssertLessThan(maximumDifference(oracle.target.mean, mean), 1e-10)
        XCTAssertLessThan(maximumDifference(oracle.target.covariance, covariance), 1e-10)

        // With Q invertible: E[exp(r(X₀))] for X₀ ~ N(μ, C) is
        // det(I + C Q)^{−1/2} exp(−½ (μ − c)ᵀ (Q⁻¹ + C)⁻¹ (μ − c)).
        let x = Tensor<Double>.normal(shape: [8], using: &generator).scalars
        for alphaBar in [1.0, 0.7, 0.05] {
            let mu = oracle.tweedieMean(x, alphaBar: alphaBar)
            let cov = oracle.tweedieCovariance(alphaBar: alphaBar)
            let combined = try! q.inversePositiveDefinite() + cov
            let difference = zip(mu, c).map { $0 - $1 }
            let quadratic = zip(difference, try! combined.solvePositiveDefinite(difference)).reduce(0) { $0 + $1.0 * $1.1 }
            // ln det(I + C Q) = ln det Q + ln det(Q⁻¹ + C), both arguments symmetric positive definite.
            let logDeterminant = try! q.logDeterminantPositiveDefinite() + combined.logDeterminantPositiveDefinite()
            let expected = -0.5 * logDeterminant - 0.5 * quadratic
            let logWeight = { (point: [Double]) in oracle.logConditionalWeight(alphaBar: alphaBar)(point) }
            XCTAssertEqual(logWeight(x), expected, accuracy: 1e-9, "ᾱ = \(alphaBar)")
            XCTAssertLessThan(maximumDifference(oracle.hTransform(x, alphaBar: alphaBar), finiteDifferenceGradient(logWeight, at: x)), 1e-6)
        }
    }

    func testControlledTerminalLawFromDiffusedTargetIsTarget() {
        for d in dimensions {
            let problem = GaussianTestProblem(dimension: d)
            let oracle = problem.oracle
            for alphaBar in [0.5, 0.01] {
                let law = oracle.controlledTerminalLaw(start: oracle.diffusedTarget(alphaBar: alphaBar), alphaBarAtHorizon: alphaBar)
                XCTAssertLessThan(maximumDifference(law.mean, oracle.target.mean), 1e-10)
                XCTAssertLessThan(maximumDifference(law.covariance, oracle.target.covariance), 1e-10)
            }
        }
    }

    func testAmortizedHTransformMatchesPerObservation() {
        let problem = GaussianTestProblem(dimension: 8)
        var generator = PhiloxRandom.testGenerator(70)
        let x = Tensor<Double>.normal(shape: [5, 8], using: &generator)
        let y = Tensor<Double>.normal(shape: [5, 3], using: &generator)
        for alphaBar in [1.0, 0.6, 0.02] {
            let amortized = problem.observationModel.amortizedHTransform(alphaBar: alphaBar, oracle: problem.oracle)(x, y)
            for row in 0..<5 {
                let yRow = y.slice(alongAxis: 0, row..<(row + 1)).scalars
                let xRow = x.slice(alongAxis: 0, row..<(row + 1)).scalars
                let oracle = GaussianDiffusionOracle(prior: problem.prior, tilt: problem.observationModel.tilt(observation: yRow))
                let expected = oracle.hTransform(xRow, alphaBar: alphaBar)
                XCTAssertLessThan(maximumDifference(amortized.slice(alongAxis: 0, row..<(row + 1)).scalars, expected), 1e-10)
            }
        }
    }

    func testNoisePredictorMatchesScorePerSample() {
        let problem = GaussianTestProblem(dimension: 8)
        let sde = VPSDE<Double>(schedule: .linear(betaMin: 0.1, betaMax: 20), horizon: 1)
        let predictor = GaussianNoisePredictor<Double>(prior: problem.prior, sde: sde)
        var generator = PhiloxRandom.testGenerator(80)
        let x = Tensor<Double>.normal(shape: [4, 8], using: &generator)
        let times = [0.001, 0.2, 0.6, 1.0]
        let predicted = predictor.predictNoise(x, at: Tensor(times))
        for (row, t) in times.enumerated() {
            let expected = problem.oracle.noisePredictionMap(alphaBar: sde.alphaBar(t))(x.slice(alongAxis: 0, row..<(row + 1)).scalars)
            XCTAssertLessThan(maximumDifference(predicted.slice(alongAxis: 0, row..<(row + 1)).scalars, expected), 1e-10)
        }
    }

    func testNoisePredictorGradientMatchesFiniteDifferences() {
        let problem = GaussianTestProblem(dimension: 2)
        let predictor = GaussianNoisePredictor<Double>(prior: problem.prior, schedule: .linear(count: 100))
        let times = Tensor<Double>([3, 50, 99])
        let result = checkGradients(at: [normalTensor([3, 2], stream: 90)]) { inputs in
            predictor.predictNoise(inputs[0], at: times)
        }
        XCTAssertLessThan(result.maxRelativeError, 1e-6, "\(result)")
    }

    func testObservationModelGradientAndPseudoInverse() {
        let problem = GaussianTestProblem(dimension: 8)
        let model = problem.observationModel
        var generator = PhiloxRandom.testGenerator(100)
        let x = Tensor<Double>.normal(shape: [4, 8], using: &generator)
        let y = model.sample(given: x, using: &generator)
        let automatic = model.logLikelihoodGradient(of: y, at: x)
        let closedForm = model.logLikelihoodGradientClosedForm(of: y, at: x)
        XCTAssertLessThan(maximumDifference(automatic.scalars, closedForm.scalars), 1e-10)

        // A A⁺ A = A (Moore–Penrose), checked on the rows of x: A (A⁺ (A x)) = A x.
        let ax = model.forward(Variable(x)).value
        let roundTrip = model.forward(Variable(model.pseudoInverse(ax))).value
        XCTAssertLessThan(maximumDifference(roundTrip.scalars, ax.scalars), 1e-10)

        let likelihoodCheck = checkGradients(at: [x]) { inputs in model.logLikelihood(of: y, given: inputs[0]) }
        XCTAssertLessThan(likelihoodCheck.maxRelativeError, 1e-6, "\(likelihoodCheck)")
    }

    func testWassersteinDistanceOfCommutingGaussians() {
        // For commuting covariances W₂² = ‖Δμ‖² + ‖Σ₁^{1/2} − Σ₂^{1/2}‖_F².
        let first = try! MultivariateNormal(mean: [0, 1], covariance: Matrix([[4, 0], [0, 1]]))
        let second = try! MultivariateNormal(mean: [3, 1], covariance: Matrix([[1, 0], [0, 9]]))
        XCTAssertEqual(first.wassersteinDistance(to: second), (9.0 + 1 + 4).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(first.wassersteinDistance(to: first), 0, accuracy: 1e-7)
    }
}

extension PhiloxRandom {
    /// A generator for test inputs, one stream per call site.
    static func testGenerator(_ stream: Int) -> PhiloxRandom {
        PhiloxRandom(seed: 20_240_601, stream: UInt64(stream))
    }
}

/// Returns standard normal test entries of the given shape from stream `stream`.
func normalTensor(_ shape: [Int], stream: Int) -> Tensor<Double> {
    var generator = PhiloxRandom.testGenerator(stream)
    return Tensor<Double>.normal(shape: shape, using: &generator)
}

/// Returns a standard normal test vector of length d from stream `stream`.
func normalVector(_ d: Int, stream: Int) -> [Double] {
    normalTensor([d], stream: stream).scalars
}
