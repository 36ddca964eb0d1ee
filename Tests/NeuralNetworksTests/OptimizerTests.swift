import NeuralNetworks
import Tensors
import XCTest

/// Adam, AdamW, gradient clipping and the moving average against hand-computed updates.
final class OptimizerTests: XCTestCase {
    /// Runs two steps with gradients [0.5, 0.3] then [-0.25, 0.3] from θ = [1, -2].
    func twoSteps<O: Optimizer>(_ makeOptimizer: ([Variable<Double>]) -> O) -> [[Double]] where O.Scalar == Double {
        let theta = Variable(Tensor<Double>([1, -2]), requiresGrad: true)
        let optimizer = makeOptimizer([theta])
        var history: [[Double]] = []
        for gradient in [[0.5, 0.3], [-0.25, 0.3]] {
            theta.grad = Tensor(gradient)
            optimizer.step()
            history.append(theta.value.scalars)
        }
        XCTAssertEqual(optimizer.stepCount, 2)
        return history
    }

    func testAdamTwoStepsByHand() {
        // lr = 0.1, β = (0.9, 0.999), ε = 1e-8. First element:
        // step 1: m = 0.05, v = 2.5e-4, m̂ = 0.5, v̂ = 0.25, θ = 1 - 0.1 · 0.5 / (0.5 + 1e-8) = 0.900000002.
        // step 2: m = 0.02, v = 3.1225e-4, m̂ = 0.02 / 0.19, v̂ = 3.1225e-4 / 0.001999,
        //         θ = 0.900000002 - 0.1 m̂ / (√v̂ + 1e-8) = 0.8733662987078463.
        // Second element (constant gradient 0.3): m̂ = 0.3 and √v̂ = 0.3, so each step moves
        // it by 0.1 · 0.3 / (0.3 + 1e-8).
        let history = twoSteps { Adam(parameters: $0, learningRate: 0.1) }
        let stepTwo = 0.900000002 - 0.1 * (0.02 / 0.19) / ((3.1225e-4 / 0.001999).squareRoot() + 1e-8)
        let constantMove = 0.1 * 0.3 / (0.3 + 1e-8)
        XCTAssertEqual(history[0][0], 0.900000002, accuracy: 1e-15)
        XCTAssertEqual(history[1][0], stepTwo, accuracy: 1e-15)
        XCTAssertEqual(stepTwo, 0.8733662987078463, accuracy: 1e-15)
        XCTAssertEqual(history[0][1], -2 - constantMove, accuracy: 1e-15)
        XCTAssertEqual(history[1][1], -2 - 2 * constantMove, accuracy: 1e-15)
    }

    func testAdamL2WeightDecayMatchesPyTorch() {
        // With weight_decay = 0.1, g ← g + 0.1 θ, so step 1 uses g = [0.6, 0.1] and the moments
        // see the penalty. Expected values from torch.optim.Adam (PyTorch 2.15, float64).
        let history = twoSteps { Adam(parameters: $0, learningRate: 0.1, weightDecay: 0.1) }
        XCTAssertEqual(history[0][0], 0.9000000016666666, accuracy: 1e-15)
        XCTAssertEqual(history[0][1], -2.099999990000001, accuracy: 1e-15)
        XCTAssertEqual(history[1][0], 0.8544413674617625, accuracy: 1e-15)
        XCTAssertEqual(history[1][1], -2.1995877519178495, accuracy: 1e-15)
    }

    func testAdamWDecoupledWeightDecayByHand() {
        // AdamW multiplies θ by 1 - lr λ = 0.99 before the Adam step, and the moments see the
        // raw gradient. Step 1: θ = 0.99 - 0.099999998 = 0.890000002 and -1.98 - 0.099999996667.
        // Step 2 applies the same Adam move as plain Adam to 0.99 θ₁. The step-2 values agree
        // with torch.optim.AdamW (PyTorch 2.15, float64) to the last digit.
        let history = twoSteps { AdamW(parameters: $0, learningRate: 0.1, weightDecay: 0.1) }
        let adamMoveOne = 0.1 * 0.5 / (0.5 + 1e-8)
        let adamMoveTwo = 0.1 * (0.02 / 0.19) / ((3.1225e-4 / 0.001999).squareRoot() + 1e-8)
        let constantMove = 0.1 * 0.3 / (0.3 + 1e-8)
        let firstAfterOne = 0.99 * 1 - adamMoveOne
        let secondAfterOne = 0.99 * -2 - constantMove
        XCTAssertEqual(history[0][0], firstAfterOne, accuracy: 1e-15)
        XCTAssertEqual(history[0][1], secondAfterOne, accuracy: 1e-15)
        XCTAssertEqual(history[1][0], 0.99 * firstAfterOne - adamMoveTwo, accuracy: 1e-15)
        XCTAssertEqual(history[1][1], 0.99 * secondAfterOne - constantMove, accuracy: 1e-15)
        XCTAssertEqual(history[1][0], 0.8544662986878463, accuracy: 1e-15)
        XCTAssertEqual(history[1][1], -2.1591999933666663, accuracy: 1e-15)
    }

    func testAdamInFloatMatchesDouble() {
        let theta = Variable(Tensor<Float>([1, -2]), requiresGrad: true)
        let optimizer = Adam(parameters: [theta], learningRate: 0.1)
        for gradient: [Float] in [[0.5, 0.3], [-0.25, 0.3]] {
            theta.grad = Tensor(gradient)
            optimizer.step()
        }
        // Float rounding of the two updates: a few ulps of 2, well under 1e-6.
        XCTAssertEqual(theta.value.scalars[0], 0.8733662987078463, accuracy: 1e-6)
        XCTAssertEqual(theta.value.scalars[1], -2.199999993333333, accuracy: 1e-6)
    }

    func testAdamSkipsParametersWithoutGradient() {
        let updated = Variable(Tensor<Double>([1]), requiresGrad: true)
        let idle = Variable(Tensor<Double>([1]), requiresGrad: true)
        let optimizer = Adam(parameters: [updated, idle], learningRate: 0.1)
        updated.grad = Tensor([1])
        optimizer.step()
        XCTAssertEqual(idle.value, Tensor([1]))
        XCTAssertEqual(optimizer.state.stepCounts, [1, 0])
        XCTAssertNil(optimizer.state.firstMoments[1])

        // The idle parameter's first update uses its own step count, t = 1, so its bias
        // correction makes the move lr · g / (|g| + ε) ≈ lr.
        idle.grad = Tensor([2])
        updated.grad = nil
        optimizer.step()
        XCTAssertEqual(idle.value.scalars[0], 1 - 0.1 * 2 / (2 + 1e-8), accuracy: 1e-15)
        XCTAssertEqual(optimizer.state.stepCounts, [1, 1])
    }

    func testAdamStateRestoresTraining() {
        func run(resumingAfter split: Int?) -> Tensor<Double> {
            let theta = Variable(Tensor<Double>([0.3, -0.7]), requiresGrad: true)
            var optimizer = Adam(parameters: [theta], learningRate: 0.05)
            for step in 0..<4 {
                if step == split {
                    let saved = optimizer.state
                    optimizer = Adam(parameters: [theta], learningRate: 0.05)
                    optimizer.state = saved
                }
                theta.grad = theta.value * 2 + 0.1
                optimizer.step()
            }
            return theta.value
        }
        XCTAssertEqual(run(resumingAfter: nil), run(resumingAfter: 2))
    }

    func testClipGradientNorm() {
        let a = Variable(Tensor<Double>([0, 0]), requiresGrad: true)
        let b = Variable(Tensor<Double>([0]), requiresGrad: true)
        let unused = Variable(Tensor<Double>([0]), requiresGrad: true)
        a.grad = Tensor([3, 4])
        b.grad = Tensor([12])

        // ‖g‖ = √(9 + 16 + 144) = 13; a larger bound leaves the gradients alone.
        XCTAssertEqual(clipGradientNorm([a, b, unused], maxNorm: 20), 13, accuracy: 1e-12)
        XCTAssertEqual(a.grad, Tensor([3, 4]))
        XCTAssertEqual(b.grad, Tensor([12]))
        XCTAssertNil(unused.grad)

        // Clipping to 6.5 halves every gradient, up to PyTorch's 1e-6 in the denominator.
        XCTAssertEqual(clipGradientNorm([a, b, unused], maxNorm: 6.5), 13, accuracy: 1e-12)
        let factor = 6.5 / (13 + 1e-6)
        assertClose(a.grad!, Tensor([3 * factor, 4 * factor]), tolerance: 1e-15)
        assertClose(b.grad!, Tensor([12 * factor]), tolerance: 1e-15)
        XCTAssertEqual(clipGradientNorm([a, b], maxNorm: 100), 6.5, accuracy: 1e-6)
    }

    func testMovingAverageWithFixedDecay() {
        let theta = Variable(Tensor<Double>([0, 10]), requiresGrad: true)
        let average = ExponentialMovingAverage(parameters: [theta], decay: 0.9)
        theta.value = Tensor([1, 10])
        average.update()
        // θ̄ = 0.9 · [0, 10] + 0.1 · [1, 10].
        assertClose(average.averages[0], Tensor([0.1, 10]), tolerance: 1e-15)
        theta.value = Tensor([2, 10])
        average.update()
        // θ̄ = 0.9 · 0.1 + 0.1 · 2 = 0.29.
        assertClose(average.averages[0], Tensor([0.29, 10]), tolerance: 1e-15)
        XCTAssertEqual(average.updateCount, 2)
    }

    func testMovingAverageWarmup() {
        let theta = Variable(Tensor<Double>([0]), requiresGrad: true)
        let average = ExponentialMovingAverage(parameters: [theta], decay: 0.9, warmup: true)
        // d₀ = min(0.9, 1/10) = 0.1, then d₁ = min(0.9, 2/11) = 2/11, and later d = 0.9 once
        // (1 + n)/(10 + n) ≥ 0.9, that is from n = 80.
        XCTAssertEqual(average.currentDecay, 0.1, accuracy: 1e-15)
        theta.value = Tensor([1])
        average.update()
        XCTAssertEqual(average.averages[0].scalars[0], 0.9, accuracy: 1e-15)
        XCTAssertEqual(average.currentDecay, 2.0 / 11, accuracy: 1e-15)
        theta.value = Tensor([2])
        average.update()
        // θ̄ = 0.9 + (9/11)(2 - 0.9) = 1.8.
        XCTAssertEqual(average.averages[0].scalars[0], 1.8, accuracy: 1e-14)
        for _ in 0..<100 { average.update() }
        XCTAssertEqual(average.currentDecay, 0.9)
    }

    func testMovingAverageCopiesIntoModel() {
        var generator = PhiloxRandom(seed: 8)
        let mlp = MLP<Float>(sizes: [2, 4, 1], using: &generator)
        let average = ExponentialMovingAverage(parameters: mlp.parameters, decay: 0.5)
        let initial = mlp.parameterValues
        for parameter in mlp.parameters {
            parameter.value = parameter.value + 1
        }
        let trained = mlp.parameterValues
        average.update()

        // Inside the closure the model contains θ̄ = θ₀ + 0.5. Afterwards the trained values are restored.
        average.withAveragedParameters {
            for (name, value) in mlp.parameterValues {
                assertClose(value, initial[name]! + 0.5, tolerance: 1e-6)
            }
        }
        XCTAssertEqual(mlp.parameterValues, trained)

        average.copyAveragesIntoParameters()
        for (name, value) in mlp.parameterValues {
            assertClose(value, initial[name]! + 0.5, tolerance: 1e-6)
        }
    }
}
