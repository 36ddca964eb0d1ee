import SDECore
import Tensors

/// Paths of the conditional reverse VP SDE driven by the exact h-transform, with the
/// path-measure quantities of the control problem accumulated along them.
public struct ConditionalPaths {
    /// X_T, `[n, d]`.
    public let start: Tensor<Double>
    /// X₀, `[n, d]`.
    public let terminal: Tensor<Double>
    /// log dQ*/dP^ν along each path, `[n, 1]`: the Girsanov sum for equal start laws.
    public let logRatio: Tensor<Double>
    /// The Itô sum Σₙ σ(tₙ) h*(tₙ, xₙ) · ΔWₙ of the reverse-time noise, `[n, 1]`: a
    /// martingale whose mean is exactly zero on the discrete chain, because each term's
    /// integrand is independent of its increment.
    public let martingale: Tensor<Double>
    /// ½ ∫ σ² ‖h*‖² dt along each path by the trapezoidal rule, `[n, 1]`.
    public let controlEnergy: Tensor<Double>

    /// Simulates the reverse SDE dX = [f − σ² (∇ ln p_t + h*)] dt + σ dW̄ of `oracle` by
    /// Euler–Maruyama on `steps` equal steps from X_T ~ `startLaw` down to 0, with a
    /// `GridBrownianPath` of seed `seed`, accumulating log dQ*/dP^ν and the control energy
    /// with SDECore's Girsanov utilities (`LogRadonNikodymAccumulator`, `controlEnergy`).
    ///
    /// The Itô sum comes from a second accumulator under P: there each step's term is
    /// −u · ΔW − ½ ‖u‖² |Δt| instead of −u · ΔW + ½ ‖u‖² |Δt|, so the half-sum of the two
    /// is −Σ u · ΔW = Σ σ h* · ΔW.
    public init(
        oracle: GaussianDiffusionOracle, sde: VPSDE<Double>, startLaw: MultivariateNormal, count: Int, steps: Int,
        seed: UInt64
    ) throws {
        var generator = PhiloxRandom(seed: seed, stream: 1)
        let start = startLaw.sample(count: count, using: &generator, as: Double.self)
        let reverse = ReverseTimeSDE(forward: sde, score: oracle.conditionalScoreFunction(sde: sde))
        let control = oracle.reverseControlFunction(sde: sde)
        let accumulator = LogRadonNikodymAccumulator<Double>(control: control, samplingControl: control)
        let referenceAccumulator = LogRadonNikodymAccumulator<Double>(control: control)

        let grid = TimeGrid(from: sde.horizon, to: 0, steps: steps)
        let brownian = GridBrownianPath<Double>(grid: grid, shape: [count, oracle.dimension], seed: seed)
        let solution = try solve(
            reverse, x0: Variable(start), grid: grid, brownian: brownian, gradient: .detached,
            runningCost: SDECore.controlEnergy(control: control),
            onStep: { step in
                accumulator.observe(step)
                referenceAccumulator.observe(step)
            })

        let logRatio = accumulator.value!.value
        self.start = start
        terminal = solution.terminal.value
        self.logRatio = logRatio
        martingale = (logRatio + referenceAccumulator.value!.value) * 0.5
        controlEnergy = solution.runningCost!.value
    }
}
