import DEFTScoreMatching
import Foundation
import GaussianOracle
import NeuralNetworks
import SDECore
import Tensors
import XCTest

/// The exact ε-model of data X₀ ~ N(0, I) of any shape under a DDPM schedule:
/// X_t ~ N(0, I) too, so E[ε | X_t = x] = √(1 − ᾱ_t) x.
final class StandardNormalNoisePredictor<Scalar: TensorScalar>: NoisePredictor {
    let schedule: DDPMSchedule

    init(schedule: DDPMSchedule) {
        self.schedule = schedule
    }

    func predictNoise(_ x: Variable<Scalar>, at t: Tensor<Scalar>) -> Variable<Scalar> {
        let shape = [x.shape[0]] + Array(repeating: 1, count: x.rank - 1)
        let factors = t.scalars.map { Scalar((1 - schedule.alphaBars[Int(Double($0).rounded())]).squareRoot()) }
        return x * Tensor(shape: shape, scalars: factors)
    }
}

/// y = m ⊙ (x + σ ξ) for a 0/1 mask m shaped like one sample, on states of any shape
/// with that many entries per sample; ln p(y | x) = −½ Σ m (y − x)² / σ² + const.
final class MaskedGaussianObservation<Scalar: TensorScalar>: ObservationModel {
    /// The mask of one sample, `[1, …]`.
    let mask: Tensor<Scalar>
    let noiseStandardDeviation: Double

    init(mask: Tensor<Scalar>, noiseStandardDeviation: Double) {
        self.mask = mask
        self.noiseStandardDeviation = noiseStandardDeviation
    }

    private func mask(like x: [Int]) -> Tensor<Scalar> {
        mask.reshaped(to: [1] + x.dropFirst())
    }

    func forward(_ x: Variable<Scalar>) -> Variable<Scalar> {
        x * mask(like: x.shape)
    }

    func logLikelihood(of y: Tensor<Scalar>, given x: Variable<Scalar>) -> Variable<Scalar> {
        let residual = Variable(y) - forward(x)
        let squared = (residual * residual).reshaped(to: [x.shape[0], -1]).sum(alongAxes: [1]).reshaped(to: [x.shape[0]])
        return squared * Scalar(-0.5 / (noiseStandardDeviation * noiseStandardDeviation))
    }

    func sample(given x: Tensor<Scalar>, using generator: inout PhiloxRandom) -> Tensor<Scalar> {
        let noise = Tensor<Scalar>.normal(shape: x.shape, using: &generator) * Scalar(noiseStandardDeviation)
        return (x + noise) * mask(like: x.shape)
    }
}

/// Presents an image h-transform network to rank-2 states `[N, C·H·W]` by reshaping its
/// inputs and output, so that the loss can be compared on the two shapes.
final class FlattenedImageHTransform<Scalar: TensorScalar>: HTransform {
    let network: ImageHTransformNetwork<Scalar>
    let imageShape: [Int]

    init(network: ImageHTransformNetwork<Scalar>, imageShape: [Int]) {
        self.network = network
        self.imageShape = imageShape
    }

    var namedParameters: [(name: String, parameter: Variable<Scalar>)] { network.namedParameters }
    var tweedieBounds: ClosedRange<Double>? { network.tweedieBounds }

    func guidancePosteriorVariance(alphaBar: Double) -> Double? {
        network.guidancePosteriorVariance(alphaBar: alphaBar)
    }

    func callAsFunction(_ inputs: HTransformInputs<Scalar>) -> Variable<Scalar> {
        let batch = inputs.count
        func image(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x.reshaped(to: [batch] + imageShape) }
        let images = HTransformInputs(
            state: image(inputs.state), tweedie: image(inputs.tweedie), likelihoodGradient: image(inputs.likelihoodGradient),
            time: inputs.time, alphaBar: inputs.alphaBar, features: inputs.features)
        return network(images).reshaped(to: [batch, -1])
    }
}

/// The U-Net h-transform network on images and the rank-generic DEFT model.
final class ImageHTransformTests: XCTestCase {
    let schedule = DDPMSchedule.linear(betaStart: 1e-4, betaEnd: 0.02, count: 1000)

    /// Returns a U-Net architecture of two levels (4 and 8 channels) for 8 × 8 images.
    func tinyArchitecture(featureChannels: Int) -> ImageHTransformArchitecture {
        ImageHTransformArchitecture(
            channels: 1, featureChannels: featureChannels, baseChannels: 4, channelMultipliers: [1, 2], groups: 2,
            guidanceEmbeddingDimension: 4, guidanceHiddenSizes: [4], gradientInputScale: 0.5)
    }

    /// Gives the zero-initialised output layers of both parts random weights, so that every
    /// parameter influences the output.
    func randomizeOutputLayers(_ network: ImageHTransformNetwork<Double>) {
        let output = network.correction.outputConv
        output.weight.value = normalTensor(output.weight.shape, stream: 400) * 0.3
        output.bias!.value = normalTensor(output.bias!.shape, stream: 401) * 0.3
        let last = network.guidanceScale.layers.last!
        last.weight.value = normalTensor(last.weight.shape, stream: 402) * 0.3
        last.bias!.value = normalTensor(last.bias!.shape, stream: 403) * 0.3
    }

    func testDefaultArchitectureSize() {
        // The defaults must stay between 4 % and 10 % of the shipped prior's 455,809
        // parameters with inpainting's two feature channels.
        let architecture = ImageHTransformArchitecture(channels: 1, featureChannels: 2)
        var generator = PhiloxRandom(seed: 1)
        let network = ImageHTransformNetwork<Float>(architecture: architecture, using: &generator)
        XCTAssertEqual(network.parameterCount, architecture.parameterCount)
        XCTAssertEqual(network.parameterCount, 30_466)
    }

    func testNetworkGradientsMatchFiniteDifferences() {
        var generator = PhiloxRandom(seed: 4)
        let network = ImageHTransformNetwork<Double>(architecture: tinyArchitecture(featureChannels: 1), using: &generator)
        randomizeOutputLayers(network)
        let inputs = [
            normalTensor([2, 1, 8, 8], stream: 410), normalTensor([2, 1, 8, 8], stream: 411),
            normalTensor([2, 1, 8, 8], stream: 412), normalTensor([2, 1, 8, 8], stream: 413),
        ]
        let time = Tensor<Double>([120, 730])
        let alphaBar = Tensor<Double>([0.8, 0.1])
        let result = checkGradients(at: inputs, parameters: network.parameters) { variables in
            network.evaluate(
                state: variables[0], tweedie: variables[1], likelihoodGradient: variables[2], features: variables[3],
                time: time, alphaBar: alphaBar)
        }
        XCTAssertLessThan(result.maxRelativeError, 1e-6, "\(result)")
    }

    func testInitialNetworkIsScaledGuidance() {
        // At initialisation h^φ = c_t s₀(t) g with c_t = −√(1 − ᾱ)/√ᾱ, here through the
        // whole DEFT model on images: x̂₀ = x_t (1 − (1 − ᾱ)) / √ᾱ = √ᾱ x_t for the standard
        // normal prior, clamped to [−1, 1], and g = m ⊙ (y − x̂₀) / σ². Without v and σ_y in
        // the architecture s₀ = 1; with them s₀ is `initialGuidanceScale`, checked against
        // the Gaussian posterior in `testInitialGuidanceScaleIsGaussianOptimum`.
        let prior = StandardNormalNoisePredictor<Double>(schedule: schedule)
        let mask = Tensor<Double>(shape: [1, 1, 8, 8], scalars: (0..<64).map { $0 % 3 == 0 ? 0 : 1 })
        let likelihood = MaskedGaussianObservation(mask: mask, noiseStandardDeviation: 0.1)
        var plain = tinyArchitecture(featureChannels: 0)
        plain.tweedieBounds = -1...1
        var scaled = plain
        scaled.dataVariance = 0.4
        scaled.observationNoise = 0.1
        scaled.operatorGain = 0.5

        for architecture in [plain, scaled] {
            var generator = PhiloxRandom(seed: 5)
            let network = ImageHTransformNetwork<Double>(architecture: architecture, using: &generator)
            let model = DEFTModel(prior: prior, schedule: schedule, network: network)

            let x = normalTensor([3, 1, 8, 8], stream: 420) * 2
            let y = likelihood.sample(given: normalTensor([3, 1, 8, 8], stream: 421), using: &generator)
            let steps = [5, 400, 999]
            let time = Tensor<Double>(steps.map { Double($0) })
            let conditioning = ObservationBatch(observation: y, likelihood: likelihood)
            let correction = model.correction(state: x, time: time, conditioning: conditioning)
            let predicted = ConditionedNoisePredictor(model: model, conditioning: conditioning).predictNoise(x, at: time)

            var expected = [Double]()
            var expectedNoise = [Double]()
            for (sample, step) in steps.enumerated() {
                let alphaBar = schedule.alphaBars[step]
                let coefficient = -(1 - alphaBar).squareRoot() / alphaBar.squareRoot()
                let initialScale = architecture.initialGuidanceScale(alphaBar: alphaBar)
                for pixel in 0..<64 {
                    let state = x.scalars[sample * 64 + pixel]
                    let tweedie = Swift.min(Swift.max(alphaBar.squareRoot() * state, -1), 1)
                    let gradient = mask.scalars[pixel] * (y.scalars[sample * 64 + pixel] - tweedie) / 0.01
                    expected.append(coefficient * initialScale * gradient)
                    expectedNoise.append((1 - alphaBar).squareRoot() * state + coefficient * initialScale * gradient)
                }
            }
            let largest = expected.map(abs).max()!
            let label = "dataVariance \(String(describing: architecture.dataVariance))"
            XCTAssertEqual(correction.shape, [3, 1, 8, 8], label)
            XCTAssertLessThan(maximumDifference(correction.scalars, expected), 1e-12 * largest, label)
            XCTAssertEqual(predicted.shape, [3, 1, 8, 8], label)
            XCTAssertLessThan(maximumDifference(predicted.scalars, expectedNoise), 1e-12 * largest, label)
        }
        XCTAssertEqual(plain.initialGuidanceScale(alphaBar: 0.3), 1)
    }

    func testInitialGuidanceScaleIsGaussianOptimum() {
        // One pixel x₀ ~ N(μ, v) observed as y = a x₀ + σ_y ξ, so A Aᵀ = a². The optimal
        // h-transform in ε-units is −√(1 − ᾱ) h* with h* = ∇ ln p(y | x_t), computed here
        // as the difference of two Gaussian scores, ∇ ln p(x_t | y) − ∇ ln p(x_t), with no
        // use of x̂₀'s Jacobian. g = a (y − a x̂₀) / σ_y² at the exact Tweedie estimate
        // x̂₀ = (x_t + (1 − ᾱ) ∇ ln p(x_t)) / √ᾱ. The ratio −√(1 − ᾱ) h* / (c_t g) must
        // be s₀ to rounding.
        let mean = 0.3
        let variance = 0.5
        let noise = 0.1
        for gain in [1.0, 0.25] {
            let architecture = ImageHTransformArchitecture(dataVariance: variance, observationNoise: noise, operatorGain: gain * gain)
            let y = 0.9
            let posteriorPrecision = 1 / variance + gain * gain / (noise * noise)
            let posteriorVariance = 1 / posteriorPrecision
            let posteriorMean = (mean / variance + gain * y / (noise * noise)) / posteriorPrecision

            for alphaBar in [0.999, 0.9, 0.5, 0.1, 0.01, 1e-4] {
                for state in [-1.3, 0.2, 2.1] {
                    let root = alphaBar.squareRoot()
                    let priorScore = -(state - root * mean) / (alphaBar * variance + 1 - alphaBar)
                    let posteriorScore = -(state - root * posteriorMean) / (alphaBar * posteriorVariance + 1 - alphaBar)
                    let optimal = -(1 - alphaBar).squareRoot() * (posteriorScore - priorScore)

                    let tweedie = (state + (1 - alphaBar) * priorScore) / root
                    let gradient = gain * (y - gain * tweedie) / (noise * noise)
                    let coefficient = -(1 - alphaBar).squareRoot() / root
                    let ratio = optimal / (coefficient * gradient)
                    let initialScale = architecture.initialGuidanceScale(alphaBar: alphaBar)
                    XCTAssertEqual(initialScale, ratio, accuracy: 1e-9 * ratio, "a = \(gain), ᾱ = \(alphaBar), x_t = \(state)")
                }
            }
        }

        // s₀ → 1 as ᾱ → 1 and s₀ → 0 as ᾱ → 0.
        let architecture = ImageHTransformArchitecture(dataVariance: variance, observationNoise: noise)
        XCTAssertEqual(architecture.initialGuidanceScale(alphaBar: 1), 1)
        XCTAssertGreaterThan(architecture.initialGuidanceScale(alphaBar: 0.999999), 0.999)
        XCTAssertLessThan(architecture.initialGuidanceScale(alphaBar: 1e-4), 1e-5)
    }

    func testGaussianPosteriorGuidanceIsOptimumForAnyOperator() throws {
        // Data x₀ ~ N(μ, v I) in three dimensions, observed as y = A x₀ + σ_y ξ with A 2 × 3
        // and A Aᵀ far from a multiple of I. The optimal h-transform −√(1 − ᾱ) ∇ ln p(y | x_t)
        // is computed as the difference of the Gaussian scores of x_t given y and of x_t,
        // with full covariances; with `.gaussianPosterior` guidance, c_t s₀ g must equal it.
        let mean = [0.3, -0.2, 0.1]
        let variance = 0.5
        let noise = 0.1
        let a = Matrix([[2, 0.5, 0], [0, 0.1, 0.3]])
        let observation = LinearGaussianObservation<Double>(operator: a, noiseStandardDeviation: noise)
        let architecture = ImageHTransformArchitecture(
            dataVariance: variance, observationNoise: noise, likelihoodGuidance: .gaussianPosterior)
        let y = [0.9, -0.4]

        // x₀ given y: precision I / v + Aᵀ A / σ_y², mean by the normal equations.
        let identity = Matrix(identity: 3)
        let posteriorPrecision = identity * (1 / variance) + a.transposed * a * (1 / (noise * noise))
        let posteriorCovariance = try posteriorPrecision.inversePositiveDefinite()
        let information = zip(mean.map { $0 / variance }, a.transposed * y.map { $0 / (noise * noise) }).map { $0 + $1 }
        let posteriorMean = posteriorCovariance * information

        for alphaBar in [0.999, 0.9, 0.5, 0.1, 0.01] {
            let root = alphaBar.squareRoot()
            let state = [-1.3, 0.2, 2.1]
            let priorScore = state.enumerated().map { -($0.element - root * mean[$0.offset]) / (alphaBar * variance + 1 - alphaBar) }
            let marginal = posteriorCovariance * alphaBar + identity * (1 - alphaBar)
            let centred = zip(state, posteriorMean).map { $0 - root * $1 }
            let posteriorScore = try marginal.solvePositiveDefinite(centred).map { -$0 }
            let optimal = zip(posteriorScore, priorScore).map { -(1 - alphaBar).squareRoot() * ($0 - $1) }

            let tweedie = zip(state, priorScore).map { ($0 + (1 - alphaBar) * $1) / root }
            let r2 = try XCTUnwrap(architecture.posteriorVariance(alphaBar: alphaBar))
            let gradient = observation.gaussianPosteriorGradient(
                of: Tensor(shape: [1, 2], scalars: y), at: Tensor(shape: [1, 3], scalars: tweedie), posteriorVariances: [r2])
            let factor = -(1 - alphaBar).squareRoot() / root * architecture.initialGuidanceScale(alphaBar: alphaBar)
            for i in 0..<3 {
                XCTAssertEqual(factor * gradient.scalars[i], optimal[i], accuracy: 1e-9 * Swift.max(1, Swift.abs(optimal[i])), "ᾱ = \(alphaBar), entry \(i)")
            }
        }
    }

    func testGradientInputFactorRestoresLikelihoodGradient() {
        // With A Aᵀ = λ I the Gaussian posterior g times the input factor is ∇ ln p(y | x̂₀),
        // at every noise level.
        let gain = 0.25
        let observation = LinearGaussianObservation<Double>(operator: Matrix([[0.5, 0, 0], [0, 0.5, 0]]), noiseStandardDeviation: 0.1)
        let architecture = ImageHTransformArchitecture(
            dataVariance: 0.4, observationNoise: 0.1, operatorGain: gain, likelihoodGuidance: .gaussianPosterior)
        let x = Tensor<Double>(shape: [1, 3], scalars: [0.3, -0.7, 0.2])
        let y = Tensor<Double>(shape: [1, 2], scalars: [0.4, 0.1])
        let plain = observation.logLikelihoodGradient(of: y, at: x)

        for alphaBar in [0.999, 0.5, 0.01] {
            let r2 = architecture.posteriorVariance(alphaBar: alphaBar)!
            let posterior = observation.gaussianPosteriorGradient(of: y, at: x, posteriorVariances: [r2], conjugateGradientTolerance: 1e-14)
            let factor = architecture.gradientInputFactor(alphaBar: alphaBar)
            XCTAssertGreaterThan(factor, 1, "ᾱ = \(alphaBar)")
            for i in 0..<3 {
                XCTAssertEqual(posterior.scalars[i] * factor, plain.scalars[i], accuracy: 1e-9 * Swift.max(1, Swift.abs(plain.scalars[i])), "ᾱ = \(alphaBar), entry \(i)")
            }
        }
        XCTAssertEqual(ImageHTransformArchitecture(dataVariance: 0.4, observationNoise: 0.1).gradientInputFactor(alphaBar: 0.5), 1)
    }

    func testNetworkInputsUseGaussianPosteriorGradient() {
        // A network built with `.gaussianPosterior` guidance gets g = Aᵀ(σ_y² I + r² A Aᵀ)⁻¹(y − A x̂₀)
        // with each sample's own r², and one built with `.gradient` gets ∇ ln p(y | x̂₀).
        var generator = PhiloxRandom(seed: 12)
        let operatorMatrix = Matrix(rows: 10, columns: 64, elements: (0..<640).map { _ in generator.nextUniform() - 0.5 })
        let observation = LinearGaussianObservation<Double>(operator: operatorMatrix, noiseStandardDeviation: 0.2)
        let x0 = Tensor<Double>.normal(shape: [3, 64], using: &generator) * 0.5
        let y = observation.sample(given: x0, using: &generator)
        let state = Tensor<Double>.normal(shape: [3, 64], using: &generator)
        let times = Tensor<Double>([20, 300, 800])
        let predictor = StandardNormalNoisePredictor<Double>(schedule: schedule)

        for guidance in [LikelihoodGuidance.gradient, .gaussianPosterior] {
            var architecture = tinyArchitecture(featureChannels: 0)
            architecture.dataVariance = 0.25
            architecture.observationNoise = 0.2
            architecture.likelihoodGuidance = guidance
            var initialization = PhiloxRandom(seed: 13)
            let network = ImageHTransformNetwork<Double>(architecture: architecture, using: &initialization)
            let model = DEFTModel(
                prior: predictor, schedule: schedule, network: FlattenedImageHTransform(network: network, imageShape: [1, 8, 8]))
            let (inputs, _) = model.networkInputs(
                state: state, time: times, conditioning: ObservationBatch(observation: y, likelihood: observation))

            let expected: Tensor<Double>
            if guidance == .gaussianPosterior {
                let variances = inputs.alphaBar.scalars.map { architecture.posteriorVariance(alphaBar: $0)! }
                XCTAssertGreaterThan(variances[2], 10 * variances[0], "the three times must give distinct r²")
                expected = observation.gaussianPosteriorGradient(of: y, at: inputs.tweedie, posteriorVariances: variances)
            } else {
                expected = observation.logLikelihoodGradient(of: y, at: inputs.tweedie)
            }
            for (value, reference) in zip(inputs.likelihoodGradient.scalars, expected.scalars) {
                XCTAssertEqual(value, reference, accuracy: 1e-12 * Swift.max(1, Swift.abs(reference)), "\(guidance)")
            }
        }
    }

    func testLossOnImagesEqualsFlattenedLoss() {
        // The same draws of t and ε on [N, 1, 8, 8] and on [N, 64]: the loss and its
        // gradients must agree to rounding.
        let prior = StandardNormalNoisePredictor<Double>(schedule: schedule)
        let mask = Tensor<Double>(shape: [1, 1, 8, 8], scalars: (0..<64).map { $0 < 40 ? 1 : 0 })
        let likelihood = MaskedGaussianObservation(mask: mask, noiseStandardDeviation: 0.2)
        var generator = PhiloxRandom(seed: 6)
        let network = ImageHTransformNetwork<Double>(architecture: tinyArchitecture(featureChannels: 0), using: &generator)
        randomizeOutputLayers(network)

        let x0 = normalTensor([4, 1, 8, 8], stream: 430)
        let y = likelihood.sample(given: x0, using: &generator)
        let imageModel = DEFTModel(prior: prior, schedule: schedule, network: network)
        let flatModel = DEFTModel(
            prior: prior, schedule: schedule, network: FlattenedImageHTransform(network: network, imageShape: [1, 8, 8]))

        var imageDraws = PhiloxRandom(seed: 7)
        var flatDraws = PhiloxRandom(seed: 7)
        let one = Tensor<Double>(shape: [], repeating: 1)
        let imageGradients = vectorJacobianProduct(at: [], cotangent: one, parameters: network.parameters) { _ in
            imageModel.loss(x0: x0, conditioning: ObservationBatch(observation: y, likelihood: likelihood), using: &imageDraws)
        }
        let flatGradients = vectorJacobianProduct(at: [], cotangent: one, parameters: network.parameters) { _ in
            flatModel.loss(
                x0: x0.reshaped(to: [4, 64]),
                conditioning: ObservationBatch(observation: y.reshaped(to: [4, 64]), likelihood: likelihood), using: &flatDraws)
        }
        let (imageLoss, flatLoss) = (imageGradients.value.scalar, flatGradients.value.scalar)
        XCTAssertGreaterThan(imageLoss, 0)
        XCTAssertEqual(imageLoss, flatLoss, accuracy: 1e-12 * imageLoss)
        for (image, flat) in zip(imageGradients.parameterGradients, flatGradients.parameterGradients) {
            let scale = image.scalars.map(abs).max()!
            XCTAssertLessThanOrEqual(maximumDifference(image.scalars, flat.scalars), 1e-12 * Swift.max(scale, 1))
        }
    }

    func testSaveAndLoadRoundTrip() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ImageHTransformTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("h.safetensors")

        var generator = PhiloxRandom(seed: 8)
        var architecture = tinyArchitecture(featureChannels: 2)
        architecture.dataVariance = 0.25
        architecture.observationNoise = 0.05
        architecture.operatorGain = 0.0625
        let network = ImageHTransformNetwork<Double>(architecture: architecture, task: "inpainting", using: &generator)
        randomizeOutputLayers(network)
        try network.save(to: url, metadata: ["steps": "12"])

        let loaded = try ImageHTransformNetwork<Double>(contentsOf: url, expectedTask: "inpainting")
        XCTAssertEqual(loaded.architecture, network.architecture)
        XCTAssertEqual(loaded.task, "inpainting")
        XCTAssertEqual(loaded.namedParameters.map(\.name), network.namedParameters.map(\.name))
        for ((name, original), (_, copy)) in zip(network.namedParameters, loaded.namedParameters) {
            XCTAssertEqual(copy.value.scalars, original.value.scalars, name)
        }
        XCTAssertEqual(try SafeTensorsFile(contentsOf: url).metadata["steps"], "12")
        XCTAssertNoThrow(try ImageHTransformNetwork<Float>(contentsOf: url))

        XCTAssertThrowsError(try ImageHTransformNetwork<Double>(contentsOf: url, expectedTask: "ct")) { error in
            XCTAssertTrue("\(error)".contains("trained for task 'inpainting', not 'ct'"), "\(error)")
        }

        // Tensors of one architecture under the JSON of another.
        var other = network.architecture
        other.baseChannels = 6
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let mismatched = folder.appendingPathComponent("mismatched.safetensors")
        try SafeTensorsFile.write(network.parameterValues, metadata: [
            "format": ImageHTransformNetwork<Double>.fileFormat,
            "architecture": String(decoding: try encoder.encode(other), as: UTF8.self),
        ], to: mismatched)
        XCTAssertThrowsError(try ImageHTransformNetwork<Double>(contentsOf: mismatched)) { error in
            XCTAssertTrue(error is HTransformFileError, "\(error)")
        }

        // A weight file of another kind.
        let foreign = folder.appendingPathComponent("foreign.safetensors")
        try SafeTensorsFile.write(network.parameterValues, metadata: [:], to: foreign)
        XCTAssertThrowsError(try ImageHTransformNetwork<Double>(contentsOf: foreign)) { error in
            XCTAssertTrue("\(error)".contains("is this an h-transform file?"), "\(error)")
        }
    }

    func testImageFineTuningReducesLoss() {
        // Standard normal 8 × 8 "images" with a third of the pixels observed at σ_y = 0.1,
        // which this observation model does not expose, so s₀ = 1. The initial guidance
        // term c_t g is far too large at high noise (c_t ≈ −160 at the last step), so the first losses are in the hundreds of thousands and a
        // working optimiser cuts them by orders of magnitude. The bound of a tenth is loose.
        let prior = StandardNormalNoisePredictor<Float>(schedule: schedule)
        let mask = Tensor<Float>(shape: [1, 1, 8, 8], scalars: (0..<64).map { $0 % 3 == 0 ? 1 : 0 })
        let likelihood = MaskedGaussianObservation(mask: mask, noiseStandardDeviation: 0.1)
        var draws = PhiloxRandom(seed: 9)
        let images = Tensor<Float>.normal(shape: [64, 1, 8, 8], using: &draws)
        var architecture = tinyArchitecture(featureChannels: 1)
        architecture.tweedieBounds = nil
        let configuration = DEFTImageFineTuningConfiguration(
            training: DEFTTrainingConfiguration(steps: 300, batchSize: 8, learningRate: 3e-3, warmupSteps: 20, reportInterval: 100),
            architecture: architecture, seed: 3)
        let fineTuning = DEFTImageFineTuning(
            prior: prior, schedule: schedule, images: images, observationModel: likelihood, features: { $0 },
            task: "test", configuration: configuration)
        XCTAssertEqual(fineTuning.network.architecture.featureChannels, 1)
        XCTAssertNotEqual(fineTuning.network.architecture.gradientInputScale, 0.5, "the scale must be estimated")
        XCTAssertNil(fineTuning.network.architecture.dataVariance)

        var reports: [DEFTTrainingProgress] = []
        fineTuning.train { reports.append($0) }
        XCTAssertEqual(reports.map(\.step), [100, 200, 300])
        let losses = fineTuning.trainer.losses
        XCTAssertEqual(losses.count, 300)
        let first = losses.prefix(20).reduce(0, +) / 20
        let last = losses.suffix(20).reduce(0, +) / 20
        print("image fine-tuning on the toy problem: mean loss of the first 20 steps \(first), of the last 20 \(last)")
        XCTAssertLessThan(last, first / 10)

        let observations = likelihood.sample(given: images.slice(alongAxis: 0, 0..<4), using: &draws)
        let predictor = fineTuning.conditionedPredictor(for: observations)
        let x = Tensor<Float>.normal(shape: [4, 1, 8, 8], using: &draws)
        XCTAssertEqual(predictor.predictNoise(x, at: Tensor(shape: [4], repeating: 500)).shape, [4, 1, 8, 8])
    }

    func testFineTuningMeasuresInitialScale() {
        // Standard normal 8 × 8 images observed on a third of the pixels through the gain
        // a = 0.5, so A Aᵀ = 0.25 on its range, at σ_y = 0.1. With σ_y given, the
        // fine-tuning must measure v ≈ 1 (64 images of 64 pixels: the mean of 64 variance
        // estimates, each with a standard deviation of about √(2/63) ≈ 0.18, so about
        // 0.02; the tolerance 0.1 is 5 of those) and λ = 0.25 (exact for a linear map up to
        // Float rounding in the finite difference of the forward map).
        let prior = StandardNormalNoisePredictor<Float>(schedule: schedule)
        let mask = Tensor<Float>(shape: [1, 1, 8, 8], scalars: (0..<64).map { $0 % 3 == 0 ? 0.5 : 0 })
        let likelihood = MaskedGaussianObservation(mask: mask, noiseStandardDeviation: 0.1)
        var draws = PhiloxRandom(seed: 11)
        let images = Tensor<Float>.normal(shape: [64, 1, 8, 8], using: &draws)
        var architecture = tinyArchitecture(featureChannels: 0)
        architecture.tweedieBounds = nil

        func fineTuning(observationNoise: Double?) -> DEFTImageFineTuning<StandardNormalNoisePredictor<Float>, DDPMSchedule> {
            let configuration = DEFTImageFineTuningConfiguration(
                architecture: architecture, observationNoise: observationNoise, seed: 12)
            return DEFTImageFineTuning(
                prior: prior, schedule: schedule, images: images, observationModel: likelihood, features: nil,
                task: "test", configuration: configuration)
        }
        let scaled = fineTuning(observationNoise: 0.1)
        let measured = scaled.network.architecture
        XCTAssertEqual(measured.observationNoise, 0.1)
        XCTAssertEqual(measured.dataVariance ?? 0, 1, accuracy: 0.1)
        XCTAssertEqual(measured.operatorGain ?? 0, 0.25, accuracy: 1e-3)
        XCTAssertEqual(scaled.configuration.observationNoise, 0.1)

        // On the same draws of t and ε, the start c_t s₀ g (the exact optimum here) must
        // cost far less than the start c_t g. The latter is of order 160 · 0.5 / 0.01 per
        // observed pixel near the last step.
        let plain = fineTuning(observationNoise: nil)
        XCTAssertNil(plain.network.architecture.dataVariance)
        let x0 = images.slice(alongAxis: 0, 0..<32)
        let observations = likelihood.sample(given: x0, using: &draws)
        var scaledDraws = PhiloxRandom(seed: 13)
        var plainDraws = PhiloxRandom(seed: 13)
        let scaledLoss = withoutRecording {
            scaled.model.loss(x0: x0, conditioning: scaled.conditioning(for: observations), using: &scaledDraws).value.scalar
        }
        let plainLoss = withoutRecording {
            plain.model.loss(x0: x0, conditioning: plain.conditioning(for: observations), using: &plainDraws).value.scalar
        }
        print("initial loss on the toy problem: \(scaledLoss) starting at c_t s₀ g, \(plainLoss) at c_t g")
        XCTAssertLessThan(scaledLoss, plainLoss / 100)
    }
}
