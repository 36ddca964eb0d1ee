import ControlObjectives
import Foundation
import GaussianOracle
import SDECore
import Tensors

/// A Gaussian inverse problem posed as a control problem: prior N(m, S) with a dense S,
/// a linear observation y = A x₀ + σ_y ξ with k rows, the VP SDE with β from 0.1 to 20 on
/// [0, 1] (ᾱ_T ≈ 4.3e-5) and a grid that is quadratic in t, tₙ = (1 − n/N)², so the steps
/// are finest near t = 0 where the h-transform varies fastest.
struct GaussianControlFixture {
    let prior: MultivariateNormal
    let observationModel: LinearGaussianObservation<Double>
    let observation: [Double]
    let oracle: GaussianDiffusionOracle
    let sde: VPSDE<Double>
    let grid: TimeGrid
    let problem: ControlProblem<VPSDE<Double>>
    private let scoreCache: ScoreMapCache

    var dimension: Int { prior.dimension }

    /// d = 2 gets k = 2 rows, d = 8 gets k = 3.
    init(dimension d: Int, steps: Int, seed: UInt64 = 11, noiseStd: Double = 0.5, gridPower: Double = 2) {
        var generator = PhiloxRandom(seed: seed)
        let k = d <= 2 ? d : 3

        // S = L Lᵀ / d + 0.3 I with a dense L: well conditioned and not diagonal.
        let l = Matrix(Tensor<Double>.normal(shape: [d, d], using: &generator))
        let s = l * l.transposed * (1 / Double(d)) + Matrix(identity: d) * 0.3
        let m = (Tensor<Double>.normal(shape: [d], using: &generator) * 0.5).scalars
        prior = try! MultivariateNormal(mean: m, covariance: s)
        // Entries N(0, 1/d), so ‖A x‖ is of the order of ‖x‖ whatever d.
        let a = Matrix(Tensor<Double>.normal(shape: [k, d], using: &generator)) * (1 / Double(d).squareRoot())
        observationModel = LinearGaussianObservation(operator: a, noiseStandardDeviation: noiseStd)
        let x0 = prior.sample(count: 1, using: &generator, as: Double.self)
        observation = observationModel.sample(given: x0, using: &generator).scalars
        oracle = GaussianDiffusionOracle(prior: prior, tilt: observationModel.tilt(observation: observation))

        sde = VPSDE<Double>()
        grid = TimeGrid(points: (0...steps).map { n in Foundation.pow(1 - Double(n) / Double(steps), gridPower) })
        let cache = ScoreMapCache(oracle: oracle, sde: sde)
        scoreCache = cache
        problem = ControlProblem(
            forward: sde, priorScore: { t, x in cache.scoreMap(at: t)(x) },
            terminalCost: .likelihood(observationModel, observation: Tensor(observation)), grid: grid, dimension: d)
    }

    /// A fixture for a tilt of the same prior by a reward with a Gaussian closed form.
    init(dimension d: Int, steps: Int, tilt: GaussianTilt, reward: @escaping (Variable<Double>) -> Variable<Double>, seed: UInt64 = 11) {
        let base = GaussianControlFixture(dimension: d, steps: steps, seed: seed)
        prior = base.prior
        observationModel = base.observationModel
        observation = base.observation
        oracle = GaussianDiffusionOracle(prior: base.prior, tilt: tilt)
        sde = base.sde
        grid = base.grid
        scoreCache = base.scoreCache
        let cache = scoreCache
        problem = ControlProblem(
            forward: sde, priorScore: { t, x in cache.scoreMap(at: t)(x) }, terminalCost: .reward(reward),
            grid: grid, dimension: d)
    }

    /// The same prior, operator and grid conditioned on another observation `y`.
    init(_ base: GaussianControlFixture, observation y: [Double]) {
        prior = base.prior
        observationModel = base.observationModel
        observation = y
        oracle = GaussianDiffusionOracle(prior: base.prior, tilt: base.observationModel.tilt(observation: y))
        sde = base.sde
        grid = base.grid
        scoreCache = base.scoreCache
        let cache = scoreCache
        problem = ControlProblem(
            forward: sde, priorScore: { t, x in cache.scoreMap(at: t)(x) },
            terminalCost: .likelihood(observationModel, observation: Tensor(y)), grid: grid, dimension: base.dimension)
    }

    /// The posterior (or tilted law) N(μ_π, P).
    var target: MultivariateNormal { oracle.target }

    /// The continuous-time optimal control u*_t = σ_t h*_t as an affine map, in control units.
    func optimalControl(at t: Double) -> AffineMap {
        oracle.hTransformMap(alphaBar: sde.alphaBar(t)).scaled(by: sde.beta(t).squareRoot())
    }
}

/// The prior's score maps by time, computed once per time (the solver asks for the same
/// grid times at every step of every training iteration).
final class ScoreMapCache: @unchecked Sendable {
    private let oracle: GaussianDiffusionOracle
    private let sde: VPSDE<Double>
    private var maps: [Double: AffineMap] = [:]
    private let lock = NSLock()

    init(oracle: GaussianDiffusionOracle, sde: VPSDE<Double>) {
        self.oracle = oracle
        self.sde = sde
    }

    func scoreMap(at t: Double) -> AffineMap {
        lock.withLock {
            if let map = maps[t] { return map }
            let map = oracle.scoreMap(alphaBar: sde.alphaBar(t))
            maps[t] = map
            return map
        }
    }
}
