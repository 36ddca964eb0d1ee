import NeuralNetworks
import SDECore

/// The network and noise schedule of an image prior: a `UNet` ε-model on 1-channel
/// square images, trained on a DDPM schedule with β linear from `betaStart` to `betaEnd`
/// over `diffusionSteps` steps.
///
/// It is stored as JSON in the metadata of prior and checkpoint files, so that a file
/// names the network its tensors belong to.
public struct PriorArchitecture: Codable, Equatable, Sendable {
    /// `c_0`, the channels of the U-Net's first level.
    public var baseChannels: Int
    /// The channel multiplier of each U-Net level.
    public var channelMultipliers: [Int]
    public var residualBlocksPerLevel: Int
    /// Groups of every group normalisation.
    public var groups: Int
    /// The height and width of the images, 32 for padded Fashion-MNIST.
    public var imageSize: Int
    public var betaStart: Double
    public var betaEnd: Double
    public var diffusionSteps: Int

    /// Creates an architecture; the defaults are those of the shipped Fashion-MNIST prior's
    /// schedule (DDPM, β linear from 1e-4 to 0.02 over 1000 steps).
    public init(
        baseChannels: Int = 32, channelMultipliers: [Int] = [1, 2, 2], residualBlocksPerLevel: Int = 1,
        groups: Int = 8, imageSize: Int = 32, betaStart: Double = 1e-4, betaEnd: Double = 0.02,
        diffusionSteps: Int = 1000
    ) {
        self.baseChannels = baseChannels
        self.channelMultipliers = channelMultipliers
        self.residualBlocksPerLevel = residualBlocksPerLevel
        self.groups = groups
        self.imageSize = imageSize
        self.betaStart = betaStart
        self.betaEnd = betaEnd
        self.diffusionSteps = diffusionSteps
    }

    /// The U-Net's sizes: one input and one output channel, time in DDPM steps (`timeScale` 1).
    public var unetConfiguration: UNetConfiguration {
        UNetConfiguration(
            inputChannels: 1, baseChannels: baseChannels, channelMultipliers: channelMultipliers,
            residualBlocksPerLevel: residualBlocksPerLevel, groups: groups, timeScale: 1)
    }

    /// The DDPM schedule the network is trained and sampled on.
    public var schedule: DDPMSchedule {
        .linear(betaStart: betaStart, betaEnd: betaEnd, count: diffusionSteps)
    }
}
