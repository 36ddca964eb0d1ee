import Foundation
import NeuralNetworks
import SDECore
import Tensors

/// The settings of a DDPM prior training run.
///
/// The learning rate ramps up linearly over `warmupSteps`, then follows a cosine decay to
/// a tenth of `learningRate` at `steps`. Resuming with another `steps` changes the
/// remaining rates.
public struct PriorTrainingConfiguration: Codable, Equatable, Sendable {
    public var architecture: PriorArchitecture
    /// The total number of optimiser steps.
    public var steps: Int
    public var batchSize: Int
    /// The peak learning rate of Adam.
    public var learningRate: Double
    public var warmupSteps: Int
    /// The maximum global gradient norm; larger gradients are rescaled to it.
    public var gradientClipNorm: Double
    /// The fixed decay `d` of the parameter average `θ̄ ← d θ̄ + (1 − d) θ`. There is no
    /// warm-up, so that a resumed run continues the same average bit for bit.
    public var averageDecay: Double
    /// The seed of the initial parameters and of every training draw.
    public var seed: UInt64

    public init(
        architecture: PriorArchitecture = PriorArchitecture(), steps: Int, batchSize: Int = 32,
        learningRate: Double = 1e-3, warmupSteps: Int = 100, gradientClipNorm: Double = 1,
        averageDecay: Double = 0.998, seed: UInt64 = 0
    ) {
        self.architecture = architecture
        self.steps = steps
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.warmupSteps = warmupSteps
        self.gradientClipNorm = gradientClipNorm
        self.averageDecay = averageDecay
        self.seed = seed
    }

    /// Stops with a message naming the first invalid setting.
    func validate() {
        precondition(steps >= 1, "PriorTrainingConfiguration: steps \(steps) must be positive")
        precondition(batchSize >= 1, "PriorTrainingConfiguration: batchSize \(batchSize) must be positive")
        precondition(
            learningRate > 0 && learningRate.isFinite,
            "PriorTrainingConfiguration: learningRate \(learningRate) must be positive and finite")
        precondition(warmupSteps >= 0, "PriorTrainingConfiguration: warmupSteps \(warmupSteps) must not be negative")
        precondition(gradientClipNorm > 0, "PriorTrainingConfiguration: gradientClipNorm \(gradientClipNorm) must be positive")
        precondition(
            averageDecay >= 0 && averageDecay <= 1,
            "PriorTrainingConfiguration: averageDecay \(averageDecay) must lie in [0, 1]")
    }

    /// The learning rate of each step: a linear warm-up of `min(warmupSteps, steps / 10)`
    /// steps, then cosine decay from `learningRate` to `learningRate / 10`.
    public var learningRateSchedule: any LearningRateSchedule {
        let warmup = Swift.min(warmupSteps, steps / 10)
        let decay = CosineDecay(
            initialRate: learningRate, finalRate: learningRate / 10, decaySteps: Swift.max(steps - warmup, 1))
        return warmup > 0 ? decay.withLinearWarmup(steps: warmup) : decay
    }
}

/// An error that stops prior training.
public enum PriorTrainingError: Error, CustomStringConvertible {
    /// The loss of `step` (counted from 1) was NaN or infinite; the step was not taken.
    case nonFiniteLoss(step: Int, loss: Double)
    /// The gradient norm of `step` was NaN or infinite; the step was not taken.
    case nonFiniteGradient(step: Int)
    /// After `step`, a parameter or its average held a NaN or an infinity; no checkpoint was written.
    case nonFiniteParameter(step: Int, name: String)
    /// A checkpoint does not fit the run that tried to resume from it.
    case incompatibleCheckpoint(path: String, reason: String)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(step, loss):
            return "loss \(loss) at step \(step) is not finite; training stopped and the last checkpoint was kept"
        case let .nonFiniteGradient(step):
            return "gradient norm at step \(step) is not finite; training stopped and the last checkpoint was kept"
        case let .nonFiniteParameter(step, name):
            return "parameter \(name) is not finite after step \(step); training stopped and the last checkpoint was kept"
        case let .incompatibleCheckpoint(path, reason):
            return "\(path): cannot resume: \(reason)"
        }
    }
}

/// Trains a `UNet` ε-model on images by DDPM denoising score matching (Ho et al., 2020):
///
///     minimise E ‖ε_θ(√ᾱ_k x₀ + √(1 − ᾱ_k) ε, k) − ε‖²,   k ~ U{0, …, N − 1}, ε ~ N(0, I),
///
/// with x₀ drawn uniformly with replacement from `images`, Adam, global gradient-norm
/// clipping and an exponential moving average of the parameters.
///
/// Every draw of step s (0-based) comes from the Philox stream `seed.split(1).split(s)`, so
/// the run's random state is the step count alone. A run resumed from a checkpoint
/// therefore makes the same draws, and the same updates, as one that never stopped.
public final class PriorTrainer {
    public let configuration: PriorTrainingConfiguration
    /// The training images, `[count, 1, S, S]` in [−1, 1].
    public let images: Tensor<Float>
    public let predictor: UNetNoisePredictor<Float>
    public let optimizer: Adam<Float>
    public let average: ExponentialMovingAverage<Float>
    /// The number of steps taken.
    public internal(set) var step = 0
    /// The loss of every step taken, in order.
    public internal(set) var losses: [Float] = []

    private let alphaBars: [Double]
    private let learningRates: any LearningRateSchedule

    /// The trained network, whose parameters Adam updates.
    public var network: UNet<Float> { predictor.network }

    /// Creates a run from step 0 with parameters drawn from stream `seed.split(0)`.
    public init(configuration: PriorTrainingConfiguration, images: Tensor<Float>) {
        configuration.validate()
        let size = configuration.architecture.imageSize
        precondition(
            images.rank == 4 && images.shape[0] > 0 && Array(images.shape[1...]) == [1, size, size],
            "PriorTrainer: images of shape \(images.shape) must be [N, 1, \(size), \(size)] with N > 0")
        self.configuration = configuration
        self.images = images

        var initialization = PhiloxRandom(seed: configuration.seed).split(0)
        let network = UNet<Float>(configuration: configuration.architecture.unetConfiguration, using: &initialization)
        predictor = UNetNoisePredictor(network: network, architecture: configuration.architecture)
        optimizer = Adam(parameters: network.parameters, learningRate: Float(configuration.learningRate))
        average = ExponentialMovingAverage(parameters: network.parameters, decay: Float(configuration.averageDecay))
        alphaBars = configuration.architecture.schedule.alphaBars
        learningRates = configuration.learningRateSchedule
    }

    /// Takes one optimiser step and returns its loss.
    ///
    /// - Throws: `PriorTrainingError.nonFiniteLoss` or `.nonFiniteGradient` before
    ///   changing any parameter.
    @discardableResult
    public func trainStep() throws -> Float {
        var generator = PhiloxRandom(seed: configuration.seed).split(1).split(UInt64(step))
        let batch = configuration.batchSize

        // Draw the batch: images with replacement, steps k, and the noise ε.
        let count = UInt64(images.shape[0])
        let indices = (0..<batch).map { _ in Int(generator.next() % count) }
        let levels = UInt64(alphaBars.count)
        let times = (0..<batch).map { _ in Int(generator.next() % levels) }
        let x0 = images.gathering(atIndices: indices)
        let noise = Tensor<Float>.normal(shape: x0.shape, using: &generator)

        // Noise the images: x_k = √ᾱ_k x₀ + √(1 − ᾱ_k) ε.
        let signal = Tensor<Float>(shape: [batch, 1, 1, 1], scalars: times.map { Float(alphaBars[$0].squareRoot()) })
        let spread = Tensor<Float>(shape: [batch, 1, 1, 1], scalars: times.map { Float((1 - alphaBars[$0]).squareRoot()) })
        let noised = x0 * signal + noise * spread

        // The loss and its gradient.
        network.zeroGradients()
        let residual = predictor.predictNoise(Variable(noised), at: Tensor(times.map { Float($0) })) - Variable(noise)
        let loss = (residual * residual).mean()
        let value = loss.value.scalar
        guard value.isFinite else {
            throw PriorTrainingError.nonFiniteLoss(step: step + 1, loss: Double(value))
        }
        loss.backward()
        let norm = clipGradientNorm(network.parameters, maxNorm: Float(configuration.gradientClipNorm))
        guard norm.isFinite else {
            throw PriorTrainingError.nonFiniteGradient(step: step + 1)
        }

        // The update.
        optimizer.learningRate = Float(learningRates.learningRate(atStep: step))
        optimizer.step()
        average.update()
        step += 1
        losses.append(value)
        return value
    }

    /// Throws `nonFiniteParameter` naming the first parameter or average with a NaN or an infinity.
    func checkParametersAreFinite() throws {
        for (index, (name, parameter)) in network.namedParameters.enumerated() {
            guard parameter.value.scalars.allSatisfy(\.isFinite) else {
                throw PriorTrainingError.nonFiniteParameter(step: step, name: name)
            }
            guard average.averages[index].scalars.allSatisfy(\.isFinite) else {
                throw PriorTrainingError.nonFiniteParameter(step: step, name: "average of \(name)")
            }
        }
    }

    /// Returns the averaged network as a noise predictor, a copy that later steps leave unchanged.
    public func averagedPredictor() -> UNetNoisePredictor<Float> {
        var generator = PhiloxRandom(seed: 0)
        let copy = UNet<Float>(configuration: configuration.architecture.unetConfiguration, using: &generator)
        let names = network.namedParameters.map(\.name)
        copy.loadParameterValues(Dictionary(uniqueKeysWithValues: zip(names, average.averages)))
        return UNetNoisePredictor(network: copy, architecture: configuration.architecture)
    }
}
