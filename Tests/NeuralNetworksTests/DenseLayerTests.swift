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

    /// Without a graph the MLP runs the same blocks of rows as with one, so the values
    /// have the same bits. OpenBLAS picks its kernels by product size, so they agree with
    /// the layers applied one by one to rounding only: 1e-5 is about 80 Float roundings
    /// on outputs of size 0.1 to 1.
    func testMLPInferenceMatchesRecordedPath() {
        for activation in [Activation.tanh, .silu, .relu, .identity] {
            var generator = PhiloxRandom(seed: 21)
            let mlp = MLP<Float>(sizes: [2, 64, 64, 2], activation: activation, using: &generator)
            let x = Tensor<Float>(testTensor([1000, 2], seed: 22))
            let recorded = mlp(Variable(x, requiresGrad: true)).value
            XCTAssertEqual(mlp.inferring(from: x), recorded, "\(activation)")
            XCTAssertEqual(withoutRecording { mlp(Variable(x)).value }, recorded, "\(activation) inside withoutRecording")
            let layerByLayer = Tensor<Double>(mlp.layers[2](activation(mlp.layers[1](activation(mlp.layers[0](Variable(x)))))).value)
            XCTAssertLessThan(maxDifference(Tensor<Double>(recorded), layerByLayer), 1e-5, "\(activation) layer by layer")
        }
        var generator = PhiloxRandom(seed: 23)
        let mixed = MLP<Double>(
            layers: [
                Linear(inputSize: 3, outputSize: 40, useBias: false, using: &generator),
                Linear(inputSize: 40, outputSize: 5, using: &generator),
                Linear(inputSize: 5, outputSize: 4, using: &generator),
            ],
            activation: .identity)
        let x = testTensor([300, 3], seed: 24)
        XCTAssertLessThan(maxDifference(mixed.inferring(from: x), mixed(Variable(x)).value), 1e-12, "identity, layer without bias")
        let batched = testTensor([4, 75, 3], seed: 24)
        XCTAssertEqual(mixed.inferring(from: batched).shape, [4, 75, 4])
        XCTAssertEqual(mixed.inferring(from: batched).reshaped(to: [300, 4]), mixed.inferring(from: batched.reshaped(to: [300, 3])))
    }

    /// The blocks of rows depend on the shapes alone: a call whose blocks run on several
    /// threads gives the bits of the same blocks evaluated one call at a time.
    func testPerceptronBlocksIndependentOfThreads() {
        var generator = PhiloxRandom(seed: 25)
        let mlp = MLP<Float>(sizes: [2, 64, 64, 2], activation: .tanh, using: &generator)
        let (weights, biases) = (mlp.layers.map { $0.weight.value }, mlp.layers.map { $0.bias?.value })
        let x = Tensor<Float>(testTensor([1000, 2], seed: 26))
        for rowsPerBlock in [64, 256, 1008] {
            let whole = perceptronForward(x, weights: weights, biases: biases, activation: .tanh, rowsPerBlock: rowsPerBlock)
            for lower in stride(from: 0, to: 1000, by: rowsPerBlock) {
                let rows = lower..<Swift.min(1000, lower + rowsPerBlock)
                let block = perceptronForward(
                    x.slice(alongAxis: 0, rows), weights: weights, biases: biases, activation: .tanh, rowsPerBlock: rowsPerBlock)
                XCTAssertEqual(whole.slice(alongAxis: 0, rows), block, "rows \(rows) in blocks of \(rowsPerBlock)")
            }
        }
    }

    /// Over several blocks of rows, the fused pullback gives the gradients of the layers
    /// applied one by one (`Linear`, then the activation), which are differentiated op by op.
    func testMLPGradientsMatchLayerByLayerOverBlocks() {
        for activation in [Activation.tanh, .silu, .relu, .identity] {
            var generator = PhiloxRandom(seed: 27)
            // Blocks of 256 rows: 600 rows make 3 blocks, the last one short.
            let mlp = MLP<Double>(sizes: [3, 64, 64, 2], activation: activation, using: &generator)
            let x = testTensor([600, 3], seed: 28)
            let cotangent = testTensor([600, 2], seed: 29)
            let targets = [Variable(x, requiresGrad: true)]
            let fused = gradients(of: mlp(targets[0]), withRespectTo: targets + mlp.parameters, cotangent: cotangent)
            let reference = gradients(
                of: mlp.layers[2](activation(mlp.layers[1](activation(mlp.layers[0](targets[0]))))),
                withRespectTo: targets + mlp.parameters, cotangent: cotangent)
            let names = ["input"] + mlp.namedParameters.map(\.name)
            for (index, name) in names.enumerated() {
                let scale = Swift.max(1, reference[index].scalars.map(Swift.abs).max()!)
                XCTAssertLessThan(maxDifference(fused[index], reference[index]), 1e-12 * scale, "\(activation) \(name)")
            }
        }
    }

    private func maxDifference(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
        zip(a.scalars, b.scalars).map { Swift.abs($0 - $1) }.max() ?? 0
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
