import NeuralNetworks
import Tensors
import XCTest

/// Linear, MLP, activations and the time embedding: values, gradients, initialisation
/// and parameter naming.
final class DenseLayerTests: XCTestCase {
    func testLinearComputesAffineMap() {
        // W = [[1, 2], [3, 4], [5, 6]], b = [0.5, -1, 2], x = [[1, -1], [2, 0.5]].
        let layer = Linear<Double>(
            weight: Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6]), bias: Tensor([0.5, -1, 2]))
        let x = Variable(Tensor<Double>(shape: [2, 2], scalars: [1, -1, 2, 0.5]))
        let y = layer(x).value
        // Row 1 is [1 - 2, 3 - 4, 5 - 6] + b, and row 2 is [2 + 1, 6 + 2, 10 + 3] + b.
        XCTAssertEqual(y, Tensor(shape: [2, 3], scalars: [-0.5, -2, 1, 3.5, 7, 15]))
    }

    func testLinearKeepsLeadingBatchAxes() {
        var generator = PhiloxRandom(seed: 3)
        let layer = Linear<Double>(inputSize: 4, outputSize: 3, using: &generator)
        let x = testTensor([2, 5, 4])
        let batched = layer.inferring(from: x)
        let flat = layer.inferring(from: x.reshaped(to: [10, 4]))
        XCTAssertEqual(batched.shape, [2, 5, 3])
        XCTAssertEqual(batched.reshaped(to: [10, 3]), flat)
        XCTAssertEqual(layer.inferring(from: Tensor([1, 2, 3, 4])).shape, [3])
    }

    func testLinearGradients() {
        var generator = PhiloxRandom(seed: 7)
        let layer = Linear<Double>(inputSize: 4, outputSize: 3, using: &generator)
        assertGradients(at: [testTensor([5, 4])], parameters: layer.parameters) { layer($0[0]) }
        assertGradients(at: [testTensor([2, 3, 4])], parameters: layer.parameters) { layer($0[0]) }

        let withoutBias = Linear<Double>(inputSize: 4, outputSize: 2, useBias: false, using: &generator)
        XCTAssertEqual(withoutBias.namedParameters.map(\.name), ["weight"])
        assertGradients(at: [testTensor([5, 4])], parameters: withoutBias.parameters) { withoutBias($0[0]) }
    }

    func testMLPGradientsForEachActivation() {
        for activation in [Activation.silu, .tanh, .identity] {
            var generator = PhiloxRandom(seed: 11)
            let mlp = MLP<Double>(sizes: [3, 5, 4, 2], activation: activation, using: &generator)
            assertGradients(at: [testTensor([6, 3])], parameters: mlp.parameters) { mlp($0[0]) }
        }
        // ReLU: finite differences hold because, for this seed, no hidden pre-activation
        // lies within the step (1e-5) of the kink at 0.
        var generator = PhiloxRandom(seed: 12)
        let mlp = MLP<Double>(sizes: [2, 4, 1], activation: .relu, using: &generator)
        assertGradients(at: [testTensor([3, 2])], parameters: mlp.parameters) { mlp($0[0]) }
    }

    func testMLPAppliesActivationBetweenLayersOnly() {
        var generator = PhiloxRandom(seed: 5)
        let mlp = MLP<Double>(sizes: [2, 3, 2], activation: .tanh, using: &generator)
        let x = Variable(testTensor([4, 2]))
        let expected = mlp.layers[1](tanh(mlp.layers[0](x))).value
        XCTAssertEqual(mlp(x).value, expected)
        XCTAssertEqual(mlp.sizes, [2, 3, 2])
    }

    func testMLPParameterNamesAndCount() {
        var generator = PhiloxRandom(seed: 1)
        let mlp = MLP<Float>(sizes: [2, 128, 128, 128, 2], using: &generator)
        XCTAssertEqual(mlp.namedParameters.map(\.name), [
            "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
            "layers.2.weight", "layers.2.bias", "layers.3.weight", "layers.3.bias",
        ])
        // 2·128 + 128 + 2 (128·128 + 128) + 128·2 + 2.
        XCTAssertEqual(mlp.parameterCount, 384 + 2 * 16_512 + 258)
        XCTAssertEqual(mlp.parameter(named: "layers.2.weight")?.shape, [128, 128])
        XCTAssertTrue(mlp.parameters.allSatisfy(\.requiresGrad))
    }

    func testSameSeedGivesSameWeights() {
        var first = PhiloxRandom(seed: 42)
        var second = PhiloxRandom(seed: 42)
        var other = PhiloxRandom(seed: 43)
        let a = MLP<Float>(sizes: [3, 8, 2], using: &first)
        let b = MLP<Float>(sizes: [3, 8, 2], using: &second)
        let c = MLP<Float>(sizes: [3, 8, 2], using: &other)
        XCTAssertEqual(a.parameterValues, b.parameterValues)
        XCTAssertNotEqual(a.parameterValues["layers.0.weight"], c.parameterValues["layers.0.weight"])
    }

    func testPyTorchDefaultInitialisationBounds() {
        var generator = PhiloxRandom(seed: 9)
        let layer = Linear<Double>(inputSize: 64, outputSize: 64, using: &generator)
        let bound = 1 / 8.0
        let weights = layer.weight.value.scalars
        XCTAssertTrue(weights.allSatisfy { abs($0) <= bound })
        // With 4096 uniform draws, P(max |w| < 0.99 bound) = 0.99^4096 < 1e-17.
        XCTAssertGreaterThan(weights.map(abs).max()!, 0.99 * bound)
        XCTAssertTrue(layer.bias!.value.scalars.allSatisfy { abs($0) <= bound })

        let he = Linear<Double>(inputSize: 64, outputSize: 64, initialization: .heUniform, using: &generator)
        let heBound = (6 / 64.0).squareRoot()
        XCTAssertTrue(he.weight.value.scalars.allSatisfy { abs($0) <= heBound })
        XCTAssertGreaterThan(he.weight.value.scalars.map(abs).max()!, 0.99 * heBound)
        XCTAssertEqual(he.bias!.value, Tensor(zeros: [64]))
    }

    func testZeroInitialisedOutputLayer() {
        var generator = PhiloxRandom(seed: 2)
        let mlp = MLP<Double>(sizes: [3, 6, 2], outputInitialization: .zeros, using: &generator)
        let x = Variable(testTensor([4, 3]))
        XCTAssertEqual(mlp(x).value, Tensor(zeros: [4, 2]))

        // The zero output layer still learns: its weight gradient is hᵀ dy with h ≠ 0.
        mlp(x).sum().backward()
        XCTAssertGreaterThan(abs(mlp.layers[1].weight.grad!).sum(), 0)

        let trained = MLP<Double>(sizes: [3, 6, 2], using: &generator)
        XCTAssertNotEqual(trained(x).value, Tensor(zeros: [4, 2]))
        trained.zeroOutputLayer()
        XCTAssertEqual(trained(x).value, Tensor(zeros: [4, 2]))
    }

    func testZeroGradientsClearsGradients() {
        var generator = PhiloxRandom(seed: 4)
        let mlp = MLP<Double>(sizes: [2, 3, 1], using: &generator)
        mlp(Variable(testTensor([5, 2]))).sum().backward()
        XCTAssertTrue(mlp.parameters.allSatisfy { $0.grad != nil })
        mlp.zeroGradients()
        XCTAssertTrue(mlp.parameters.allSatisfy { $0.grad == nil })
    }

    func testEvaluationInsideWithoutRecordingKeepsNoGraph() {
        var generator = PhiloxRandom(seed: 4)
        let mlp = MLP<Double>(sizes: [2, 3, 1], using: &generator)
        let output = withoutRecording { mlp(Variable(testTensor([5, 2]))) }
        XCTAssertFalse(output.requiresGrad)
        XCTAssertTrue(mlp(Variable(testTensor([5, 2]))).requiresGrad)
    }

    func testLoadParameterValuesRoundTrip() {
        var generator = PhiloxRandom(seed: 6)
        let source = MLP<Double>(sizes: [2, 4, 3], using: &generator)
        let target = MLP<Double>(sizes: [2, 4, 3], using: &generator)
        XCTAssertNotEqual(source.parameterValues, target.parameterValues)
        target.loadParameterValues(source.parameterValues)
        XCTAssertEqual(source.parameterValues, target.parameterValues)
        let x = Variable(testTensor([3, 2]))
        XCTAssertEqual(source(x).value, target(x).value)
    }

    func testSinusoidalTimeEmbeddingValues() {
        let embedding = SinusoidalTimeEmbedding<Double>(dimension: 6)
        let t = 3.0
        let e = embedding.inferring(from: Tensor([0, t]))
        XCTAssertEqual(e.shape, [2, 6])
        // ω_k = 10000^(-k/3) for k = 0, 1, 2; sines first, then cosines.
        let frequencies = (0..<3).map { k in pow(10_000.0, -Double(k) / 3) }
        let expected = [0, 0, 0, 1, 1, 1] + frequencies.map { sin(t * $0) } + frequencies.map { cos(t * $0) }
        assertClose(e, Tensor(shape: [2, 6], scalars: expected), tolerance: 1e-15)

        let scaled = SinusoidalTimeEmbedding<Double>(dimension: 6, timeScale: 1000)
        assertClose(scaled.inferring(from: Tensor([0.003])), e.slice(alongAxis: 0, 1..<2), tolerance: 1e-12)
    }

    func testSinusoidalTimeEmbeddingGradient() {
        let embedding = SinusoidalTimeEmbedding<Double>(dimension: 8, maxPeriod: 100)
        assertGradients(at: [testTensor([3]) * 5]) { embedding($0[0]) }
    }
}
