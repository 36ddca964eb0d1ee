import Foundation
import SDECore
import Tensors
import XCTest

/// The binomial checkpointing schedule against revolve's bound, and the checkpointed
/// adjoint against backpropagation through every solver on the same Brownian path.
final class CheckpointedAdjointTests: XCTestCase {
    // MARK: The schedule

    /// A state of the mock recurrence xₙ₊₁ = xₙ + 1 that counts its live instances, so
    /// that states kept anywhere (not only in the schedule's slots) are caught.
    final class Token {
        static var live = 0
        static var peak = 0
        let index: Int

        init(_ index: Int) {
            self.index = index
            Token.live += 1
            Token.peak = Swift.max(Token.peak, Token.live)
        }

        deinit { Token.live -= 1 }
    }

    /// Returns T(n, c), the fewest advances that reverse n steps with c slots, by the
    /// recurrence T(n, c) = min over j of j + T(n − j, c − 1) + T(j, c), with T(1, c) = 0
    /// and T(n, 1) = n (n − 1) / 2.
    func minimalAdvances(maximumSteps: Int, maximumCheckpoints: Int) -> [[Int]] {
        var table = Array(repeating: Array(repeating: 0, count: maximumCheckpoints + 1), count: maximumSteps + 1)
        for n in 1...maximumSteps {
            for c in 1...maximumCheckpoints {
                if n == 1 {
                    table[n][c] = 0
                } else if c == 1 {
                    table[n][c] = n * (n - 1) / 2
                } else {
                    table[n][c] = (1..<n).map { j in j + table[n - j][c - 1] + table[j][c] }.min()!
                }
            }
        }
        return table
    }

    /// Revolve's closed form r N − β(C + 1, r − 1) equals the recurrence's minimum, and
    /// the executed schedule reaches it. The sweep performs the first descent, up to the
    /// last state it stores, so those advances plus the reversal's make the minimum. Every
    /// step is reversed once, in order, from the right state. At most C states are stored
    /// and at most C + 2 are alive, two being transients while advancing.
    func testScheduleReachesRevolveMinimum() {
        let table = minimalAdvances(maximumSteps: 60, maximumCheckpoints: 7)
        for steps in 1...60 {
            for checkpoints in 1...7 {
                let schedule = BinomialCheckpointing(steps: steps, checkpoints: checkpoints)
                let name = "N = \(steps), C = \(checkpoints)"
                XCTAssertEqual(schedule.minimalAdvanceCount, table[steps][checkpoints], name)

                Token.live = 0
                Token.peak = 0
                var reversed: [Int] = []
                let checkpoints: BinomialCheckpointing.Checkpoints<Token> = {
                    let sweep = schedule.sweep(from: Token(0)) { token, n in
                        XCTAssertEqual(token.index, n)
                        return Token(n + 1)
                    }
                    XCTAssertEqual(sweep.end.index, steps, name)
                    return sweep.checkpoints
                }()
                XCTAssertLessThanOrEqual(checkpoints.count, schedule.checkpoints, name)
                let statistics = schedule.reverse(checkpoints, advance: { token, _ in Token(token.index + 1) }) { token, n in
                    XCTAssertEqual(token.index, n, name)
                    reversed.append(n)
                }
                XCTAssertEqual(reversed, Array((0..<steps).reversed()), name)
                XCTAssertEqual(statistics.reversedStepCount, steps, name)
                XCTAssertEqual(
                    statistics.advanceCount + (schedule.sweepCheckpoints.last ?? 0), schedule.minimalAdvanceCount, name)
                XCTAssertLessThanOrEqual(statistics.maximumStoredStates, schedule.checkpoints, name)
                XCTAssertLessThanOrEqual(Token.peak, schedule.checkpoints + 2, name)
                XCTAssertEqual(Token.live, 0, name)
            }
        }
    }

    /// β(c, r) = C(c + r, c); the default ⌈log₂ N⌉ slots give O(N log N) advances, and no
    /// step advances more than r times, so the advances are at most r N.
    func testScheduleFormulas() {
        XCTAssertEqual(BinomialCheckpointing.maximumSteps(checkpoints: 3, repetitions: 2), 10)
        XCTAssertEqual(BinomialCheckpointing.maximumSteps(checkpoints: 5, repetitions: 0), 1)
        XCTAssertEqual(BinomialCheckpointing.maximumSteps(checkpoints: 5, repetitions: -1), 0)
        XCTAssertEqual(BinomialCheckpointing.maximumSteps(checkpoints: 200, repetitions: 200), Int.max)
        XCTAssertEqual(BinomialCheckpointing.defaultCheckpoints(steps: 1), 1)
        XCTAssertEqual(BinomialCheckpointing.defaultCheckpoints(steps: 1024), 10)
        XCTAssertEqual(BinomialCheckpointing.defaultCheckpoints(steps: 1025), 11)
        XCTAssertEqual(BinomialCheckpointing(steps: 5, checkpoints: 9).checkpoints, 5)
        for steps in [64, 256, 1024, 4096] {
            let schedule = BinomialCheckpointing(steps: steps)
            XCTAssertLessThanOrEqual(schedule.minimalAdvanceCount, schedule.repetitions * steps)
            print("binomial checkpointing, N = \(steps): C = \(schedule.checkpoints), r = \(schedule.repetitions), "
                + "advances \(schedule.minimalAdvanceCount) (\(String(format: "%.2f", Double(schedule.minimalAdvanceCount) / Double(steps))) N)")
        }
    }

    // MARK: Gradients against backpropagation

    /// A 2-state SDE with diagonal noise: drift W₂ tanh(W₁ x + b₁) + b₂ (4 hidden units)
    /// and diffusion g(x) = s ⊙ (1 + 0.2 tanh x), with the Itô correction
    /// c = ½ g ∂g/∂x = 0.1 s² (1 + 0.2 tanh x)(1 − tanh² x) that Milstein's recorded step
    /// uses. `additive` replaces g by the constant s, for SRA1.
    struct DiagonalSDE {
        let w1 = Variable(fixedTensor([2, 4], seed: 51) * 0.8, requiresGrad: true)
        let b1 = Variable(fixedTensor([1, 4], seed: 52) * 0.3, requiresGrad: true)
        let w2 = Variable(fixedTensor([4, 2], seed: 53) * 0.8, requiresGrad: true)
        let b2 = Variable(fixedTensor([1, 2], seed: 54) * 0.3, requiresGrad: true)
        let s = Variable(fixedTensor([1, 2], seed: 55) * 0.3 + 0.6, requiresGrad: true)

        var parameters: [Variable<Double>] { [w1, b1, w2, b2, s] }

        func sde(_ interpretation: SDEInterpretation, additive: Bool = false) -> ClosureSDE<Double> {
            let (w1, b1, w2, b2, s) = (self.w1, self.b1, self.w2, self.b2, self.s)
            let drift: (Double, Variable<Double>) -> Variable<Double> = { _, x in matmul(tanh(matmul(x, w1) + b1), w2) + b2 }
            if additive {
                return ClosureSDE(
                    noiseType: .additive(.diagonal), interpretation: interpretation, parameters: parameters, drift: drift,
                    diffusion: { _, x in s + Variable(Tensor(zeros: x.shape)) })
            }
            return ClosureSDE(
                noiseType: .diagonal, interpretation: interpretation, parameters: parameters, drift: drift,
                diffusion: { _, x in s * (tanh(x) * 0.2 + 1) },
                itoCorrection: { _, x in
                    let slope = tanh(x)
                    return s * s * (slope * 0.2 + 1) * (1 - slope * slope) * 0.1
                })
        }

        let trapezoidCost = RunningCost<Double> { t, x in (x * x).sum(alongAxes: [1]) * (0.5 + t) }
        let leftPointCost = RunningCost<Double>(rule: .leftPoint) { t, x in (x * x).sum(alongAxes: [1]) * (0.5 + t) }
    }

    func relativeError(_ a: [Tensor<Double>], _ b: [Tensor<Double>]) -> Double {
        let difference = zip(a, b).reduce(0) { $0 + (($1.0 - $1.1) * ($1.0 - $1.1)).sum() }
        let scale = Swift.max(a.reduce(0) { $0 + ($1 * $1).sum() }, b.reduce(0) { $0 + ($1 * $1).sum() })
        return (difference / scale).squareRoot()
    }

    /// Returns the gradients of a loss of the states at the middle and the end and of the
    /// running cost, with respect to x0 and the parameters.
    func gradients(
        _ sde: ClosureSDE<Double>, _ model: DiagonalSDE, solver: any SDESolver, method: GradientMethod, from t0: Double,
        to t1: Double, steps: Int, cost: RunningCost<Double>, brownian: VirtualBrownianTree<Double>
    ) throws -> [Tensor<Double>] {
        let x0 = Variable(fixedTensor([3, 2], seed: 56), requiresGrad: true)
        let middle = (t0 + t1) / 2
        let solution = try solve(
            sde, x0: x0, grid: TimeGrid(from: t0, to: t1, steps: steps), solver: solver, brownian: brownian,
            gradient: method, saveAt: .times([middle, t1]), runningCost: cost)
        let loss = (solution.states[0] * solution.states[0]).mean() + solution.states[1].mean() + solution.runningCost!.mean()
        return Tensors.gradients(of: loss, withRespectTo: [x0] + model.parameters)
    }

    /// Backpropagation and the checkpointed adjoint apply the same chain rule to the same
    /// step maps, so they agree to rounding: 1e-10 relative in Double. The cases are
    /// Euler–Maruyama, Heun, SRA1 and reversible Heun, with 1, 2 and 3 slots, the default
    /// and one per step, forwards and backwards in time, and both running-cost rules.
    /// Reversible Heun's exact reversal gives the same gradient as well.
    func testGradientsEqualBackpropagation() throws {
        let model = DiagonalSDE()
        // Leaves of 2⁻⁸ are fine enough for the grid of 13 steps and keep the queries cheap.
        let brownian = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [3, 2], seed: 57, tolerance: 0x1p-8, levyArea: .spaceTime)
        let steps = 13
        var largestError = 0.0
        let cases: [(any SDESolver, ClosureSDE<Double>)] = [
            (EulerMaruyama(), model.sde(.ito)), (Heun(), model.sde(.stratonovich)), (SRA1(), model.sde(.ito, additive: true)),
            (ReversibleHeun(), model.sde(.stratonovich)),
        ]
        for (solver, sde) in cases {
            for (t0, t1, cost) in [(0.0, 1.0, model.trapezoidCost), (1.0, 0.0, model.trapezoidCost), (0.0, 1.0, model.leftPointCost)] {
                let name = "\(solver.name), from \(t0) to \(t1), \(cost.rule)"
                let backpropagation = try gradients(
                    sde, model, solver: solver, method: .backpropagation, from: t0, to: t1, steps: steps, cost: cost,
                    brownian: brownian)
                for checkpoints in [1, 2, 3, nil, steps] {
                    let checkpointed = try gradients(
                        sde, model, solver: solver, method: .checkpointed(checkpoints: checkpoints), from: t0, to: t1,
                        steps: steps, cost: cost, brownian: brownian)
                    let error = relativeError(checkpointed, backpropagation)
                    largestError = Swift.max(largestError, error)
                    XCTAssertLessThan(error, 1e-10, "\(name), checkpoints \(String(describing: checkpoints))")
                }
                if solver is ReversibleHeun {
                    let reversible = try gradients(
                        sde, model, solver: solver, method: .reversible, from: t0, to: t1, steps: steps, cost: cost,
                        brownian: brownian)
                    XCTAssertLessThan(relativeError(reversible, backpropagation), 1e-10, name)
                }
            }
        }
        print("checkpointed adjoint against backpropagation: largest relative difference \(largestError)")
    }

    /// Milstein cannot be backpropagated, but its checkpointed adjoint records the
    /// correction through the Itô correction: it matches central differences of the
    /// discrete Milstein solution (relative error below 1e-6), and the slot counts agree
    /// with each other to rounding (1e-10).
    func testMilsteinMatchesFiniteDifferences() throws {
        let model = DiagonalSDE()
        let sde = model.sde(.ito)
        let brownian = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [3, 2], seed: 58)
        for checkpoints in [2, nil] {
            let result = checkGradients(at: [fixedTensor([3, 2], seed: 59)], parameters: model.parameters) { inputs in
                let solution = try! solve(
                    sde, x0: inputs[0], from: 0, to: 1, steps: 9, solver: Milstein(), brownian: brownian,
                    gradient: .checkpointed(checkpoints: checkpoints), saveAt: .times([0.5, 1]), runningCost: model.trapezoidCost)
                return Variable.concatenate([solution.states[0], solution.states[1], solution.runningCost!], alongAxis: 1)
            }
            XCTAssertLessThan(result.maxRelativeError, 1e-6, "checkpoints \(String(describing: checkpoints)): \(result)")
        }
        let one = try gradients(
            sde, model, solver: Milstein(), method: .checkpointed(checkpoints: 1), from: 0, to: 1, steps: 9,
            cost: model.trapezoidCost, brownian: brownian)
        let all = try gradients(
            sde, model, solver: Milstein(), method: .checkpointed(checkpoints: 9), from: 0, to: 1, steps: 9,
            cost: model.trapezoidCost, brownian: brownian)
        XCTAssertLessThan(relativeError(one, all), 1e-10)
    }

    /// Counting the drift evaluations of Euler–Maruyama (one per step) shows the work:
    /// N in the forward pass, N in the recorded steps, and in between the schedule's
    /// advances, which with the forward pass's first descent make revolve's minimum.
    /// A second backpropagation through the same outputs sweeps again and gives the same gradient.
    func testStepCountMatchesSchedule() throws {
        let steps = 100
        let counter = Counter()
        let theta = Variable(Tensor<Double>(shape: [1, 1], repeating: 0.7), requiresGrad: true)
        let sde = ClosureSDE<Double>(
            noiseType: .additive(.diagonal), parameters: [theta],
            drift: { _, x in
                counter.count += 1
                return -(theta * x)
            },
            diffusion: { _, x in Variable(Tensor(shape: x.shape, repeating: 0.5)) })
        let brownian = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [4, 1], seed: 60)
        for checkpoints in [4, nil] {
            let schedule = BinomialCheckpointing(steps: steps, checkpoints: checkpoints)
            counter.count = 0
            let x0 = Variable(Tensor<Double>(shape: [4, 1], repeating: 1), requiresGrad: true)
            let solution = try solve(
                sde, x0: x0, from: 0, to: 1, steps: steps, brownian: brownian, gradient: .checkpointed(checkpoints: checkpoints))
            XCTAssertEqual(counter.count, steps)
            let loss = (solution.terminal * solution.terminal).mean()
            let first = Tensors.gradients(of: loss, withRespectTo: [x0, theta])
            let advances = counter.count - 2 * steps
            XCTAssertEqual(advances + (schedule.sweepCheckpoints.last ?? 0), schedule.minimalAdvanceCount)
            print("checkpointed adjoint, N = \(steps), C = \(schedule.checkpoints): \(advances) advances in the backward pass")

            let second = Tensors.gradients(of: loss, withRespectTo: [x0, theta])
            XCTAssertLessThan(relativeError(first, second), 1e-14)
        }
    }

    final class Counter {
        var count = 0
    }

    func testRejectsInvalidSetups() {
        let model = DiagonalSDE()
        let brownian = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [3, 2], seed: 61)
        let x0 = Variable(fixedTensor([3, 2], seed: 62))
        XCTAssertThrowsError(
            try solve(model.sde(.ito), x0: x0, from: 0, to: 1, steps: 4, brownian: brownian, gradient: .checkpointed(checkpoints: 0)))
        let withoutCorrection = ClosureSDE<Double>(
            noiseType: .diagonal, drift: { _, x in x }, diffusion: { _, x in tanh(x) })
        XCTAssertThrowsError(
            try solve(
                withoutCorrection, x0: x0, from: 0, to: 1, steps: 4, solver: Milstein(), brownian: brownian,
                gradient: .checkpointed()))
    }
}
