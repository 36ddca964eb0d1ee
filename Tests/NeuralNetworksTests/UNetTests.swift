import NeuralNetworks
import Tensors
import XCTest

/// The U-Net: shapes, parameter count and names, zero initialisation, seeding and
/// gradients of the whole network.
final class UNetTests: XCTestCase {
    let tiny = UNetConfiguration(inputChannels: 1, baseChannels: 4, channelMultipliers: [1, 2], groups: 2)

    func testShapesForBenchmarkAndPaddedImages() {
        var generator = PhiloxRandom(seed: 1)
        let unet = UNet<Float>(configuration: UNetConfiguration(inputChannels: 1), using: &generator)
        let t = Variable(Tensor<Float>([10, 500]))
        withoutRecording {
            // 28 → 14 → 7 and 32 → 16 → 8.
            XCTAssertEqual(unet(Variable(Tensor(zeros: [2, 1, 28, 28])), t).shape, [2, 1, 28, 28])
            XCTAssertEqual(unet(Variable(Tensor(zeros: [2, 1, 32, 32])), t).shape, [2, 1, 32, 32])
        }
    }

    func testAveragePoolingAndExtraInputChannels() {
        var generator = PhiloxRandom(seed: 2)
        let configuration = UNetConfiguration(
            inputChannels: 3, outputChannels: 1, baseChannels: 8, channelMultipliers: [1, 2, 2],
            residualBlocksPerLevel: 2, groups: 4, downsampling: .averagePooling)
        let unet = UNet<Float>(configuration: configuration, using: &generator)
        XCTAssertFalse(unet.namedParameters.contains { $0.name.contains("downsample") })
        XCTAssertEqual(unet.parameterCount, configuration.parameterCount)
        let y = withoutRecording { unet(Variable(Tensor(zeros: [1, 3, 12, 20])), Variable(Tensor([3]))) }
        XCTAssertEqual(y.shape, [1, 1, 12, 20])
    }

    func testParameterCountMatchesArchitecture() {
        var generator = PhiloxRandom(seed: 3)
        let configuration = UNetConfiguration(inputChannels: 1)
        let unet = UNet<Float>(configuration: configuration, using: &generator)
        XCTAssertEqual(unet.parameterCount, configuration.parameterCount)
        // Counted by hand for base 32, [1, 2, 4], one block per level and 1 channel:
        //   time MLP           20,736
        //   input conv            320
        //   down blocks        22,752 + 65,984 + 246,656
        //   downsampling        9,248 + 36,928
        //   up convs           73,792 + 18,464
        //   up blocks         127,616 + 34,112
        //   output norm, conv      64 + 289
        // A PyTorch module with the same layers has the same count.
        XCTAssertEqual(configuration.parameterCount, 656_961)

        var deeper = configuration
        deeper.residualBlocksPerLevel = 2
        let deeperNet = UNet<Float>(configuration: deeper, using: &generator)
        XCTAssertEqual(deeperNet.parameterCount, deeper.parameterCount)
    }

    func testParameterNamesAreUniqueAndStable() {
        var generator = PhiloxRandom(seed: 4)
        let unet = UNet<Double>(configuration: tiny, using: &generator)
        let names = unet.namedParameters.map(\.name)
        XCTAssertEqual(Set(names).count, names.count)
        XCTAssertEqual(Array(names.prefix(6)), [
            "time.layers.0.weight", "time.layers.0.bias", "time.layers.1.weight", "time.layers.1.bias",
            "inputConv.weight", "inputConv.bias",
        ])
        for expected in [
            "down.0.blocks.0.conv1.weight", "down.0.downsample.weight", "down.1.blocks.0.skip.weight",
            "up.0.upsample.weight", "up.0.blocks.0.skip.bias", "outputNorm.scale", "outputConv.bias",
        ] {
            XCTAssertTrue(names.contains(expected), "missing \(expected)")
        }
        XCTAssertEqual(names.last, "outputConv.bias")
    }

    func testSameSeedGivesSameWeights() {
        var first = PhiloxRandom(seed: 77)
        var second = PhiloxRandom(seed: 77)
        let a = UNet<Float>(configuration: tiny, using: &first)
        let b = UNet<Float>(configuration: tiny, using: &second)
        XCTAssertEqual(a.parameterValues, b.parameterValues)
        let x = Variable(Tensor<Float>(shape: [1, 1, 8, 8], repeating: 0.5))
        let t = Variable(Tensor<Float>([7]))
        XCTAssertEqual(a(x, t).value, b(x, t).value)
    }

    func testZeroInitialisedOutput() {
        var generator = PhiloxRandom(seed: 5)
        let x = Variable(Tensor<Double>(testTensor([2, 1, 8, 8])))
        let t = Variable(Tensor<Double>([3, 400]))
        let zeroed = UNet<Double>(configuration: tiny, outputInitialization: .zeros, using: &generator)
        XCTAssertEqual(zeroed(x, t).value, Tensor(zeros: [2, 1, 8, 8]))

        let unet = UNet<Double>(configuration: tiny, using: &generator)
        XCTAssertNotEqual(unet(x, t).value, Tensor(zeros: [2, 1, 8, 8]))
        unet.zeroOutputLayer()
        XCTAssertEqual(unet(x, t).value, Tensor(zeros: [2, 1, 8, 8]))
    }

    func testOutputDependsOnTime() {
        var generator = PhiloxRandom(seed: 6)
        let unet = UNet<Double>(configuration: tiny, using: &generator)
        let x = testTensor([1, 1, 8, 8])
        let early = unet.callAsFunction(Variable(x), Variable(Tensor([1]))).value
        let late = unet.callAsFunction(Variable(x), Variable(Tensor([900]))).value
        XCTAssertGreaterThan(abs(early - late).sum(), 1e-6)
    }

    func testEvaluationRecordsNoGraph() {
        var generator = PhiloxRandom(seed: 7)
        let unet = UNet<Float>(configuration: tiny, using: &generator)
        let x = Variable(Tensor<Float>(zeros: [1, 1, 8, 8]))
        let t = Variable(Tensor<Float>([1]))
        XCTAssertFalse(withoutRecording { unet(x, t) }.requiresGrad)
        XCTAssertTrue(unet(x, t).requiresGrad)
        XCTAssertEqual(unet.inferring(from: x.value, t.value), unet(x, t).value)
    }

    /// Every parameter, the images and the times against finite differences: base 4,
    /// multipliers [1, 2], groups 2, a batch of two 1×8×8 images.
    func testGradientsOfWholeNetwork() {
        var generator = PhiloxRandom(seed: 8)
        let unet = UNet<Double>(configuration: tiny, using: &generator)
        // Random GroupNorm parameters, so the check also covers γ ≠ 1 and β ≠ 0.
        for (name, parameter) in unet.namedParameters where name.hasSuffix("scale") || name.hasSuffix("offset") {
            parameter.value = parameter.value + testTensor(parameter.shape, seed: UInt64(name.count)) * 0.3
        }
        let x = testTensor([2, 1, 8, 8])
        let t = Tensor<Double>([2, 5])
        assertGradients(at: [x, t], parameters: unet.parameters) { unet($0[0], $0[1]) }
    }

    /// The average-pooling variant differs from the strided one only in the halving after
    /// level 0. This test checks the images, the times and the parameters before the
    /// pooling (input convolution and level 0 of the down path), whose gradients all pass
    /// through the pooling's pullback. The test above covers the other parameters.
    func testGradientsWithAveragePooling() {
        var generator = PhiloxRandom(seed: 9)
        var configuration = tiny
        configuration.downsampling = .averagePooling
        let unet = UNet<Double>(configuration: configuration, using: &generator)
        let upstream = unet.namedParameters
            .filter { $0.name.hasPrefix("inputConv.") || $0.name.hasPrefix("down.0.") }
            .map(\.parameter)
        let x = testTensor([2, 1, 8, 8])
        let t = Tensor<Double>([2, 5])
        assertGradients(at: [x, t], parameters: upstream) { unet($0[0], $0[1]) }
    }
}
