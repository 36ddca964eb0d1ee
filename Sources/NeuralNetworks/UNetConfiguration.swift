/// The sizes of a `UNet`.
///
/// With `L = channelMultipliers.count` levels, level `l` has `c_l = baseChannels · m_l`
/// channels and works at `1 / 2^l` of the input resolution. The time embedding has
/// `4 · baseChannels` features.
public struct UNetConfiguration: Sendable, Equatable {
    /// Channels of the input image `x`.
    public var inputChannels: Int
    /// Channels of the output, usually equal to `inputChannels` (an ε-model); a
    /// network that takes extra conditioning channels returns fewer.
    public var outputChannels: Int
    /// `c_0`, the channels of the first level.
    public var baseChannels: Int
    /// `m_l`, the channel multiplier of each level; `[1, 2, 4]` with 32 base channels
    /// gives 32, 64 and 128 channels.
    public var channelMultipliers: [Int]
    /// Residual blocks per level on the way down, and on the way up.
    public var residualBlocksPerLevel: Int
    /// Groups of every group normalisation; each `c_l` must be a multiple of it.
    public var groups: Int
    /// The operation that halves the resolution after each level but the last.
    public var downsampling: Downsampling
    /// The factor applied to `t` before the sinusoidal embedding (see
    /// `SinusoidalTimeEmbedding`): 1 for DDPM steps 0…999, about 1000 for `t ∈ [0, 1]`.
    public var timeScale: Double

    /// An operation that halves the height and width of a feature map.
    public enum Downsampling: Sendable, Equatable {
        /// A 3×3 convolution with stride 2 and padding 1 that keeps the channel count.
        case stridedConvolution
        /// The mean of each 2×2 block; no parameters.
        case averagePooling
    }

    public init(
        inputChannels: Int, outputChannels: Int? = nil, baseChannels: Int = 32, channelMultipliers: [Int] = [1, 2, 4],
        residualBlocksPerLevel: Int = 1, groups: Int = 8, downsampling: Downsampling = .stridedConvolution,
        timeScale: Double = 1
    ) {
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels ?? inputChannels
        self.baseChannels = baseChannels
        self.channelMultipliers = channelMultipliers
        self.residualBlocksPerLevel = residualBlocksPerLevel
        self.groups = groups
        self.downsampling = downsampling
        self.timeScale = timeScale
    }

    /// `c_l` for each level.
    public var levelChannels: [Int] {
        channelMultipliers.map { baseChannels * $0 }
    }

    /// The features of the time embedding, `4 · baseChannels`.
    public var timeFeatures: Int {
        4 * baseChannels
    }

    /// The factor `2^(L-1)` that image height and width must be multiples of.
    public var sizeDivisor: Int {
        1 << (channelMultipliers.count - 1)
    }

    /// Stops with a message naming the first size that is invalid.
    func validate() {
        precondition(inputChannels > 0, "UNetConfiguration: inputChannels \(inputChannels) must be positive")
        precondition(outputChannels > 0, "UNetConfiguration: outputChannels \(outputChannels) must be positive")
        precondition(
            baseChannels > 0 && baseChannels.isMultiple(of: 2),
            "UNetConfiguration: baseChannels \(baseChannels) must be even and positive, the size of the sinusoidal embedding")
        precondition(!channelMultipliers.isEmpty, "UNetConfiguration: channelMultipliers must name at least one level")
        precondition(
            channelMultipliers.allSatisfy { $0 > 0 },
            "UNetConfiguration: channelMultipliers \(channelMultipliers) must be positive")
        precondition(
            residualBlocksPerLevel > 0,
            "UNetConfiguration: residualBlocksPerLevel \(residualBlocksPerLevel) must be positive")
        precondition(
            groups > 0 && levelChannels.allSatisfy { $0.isMultiple(of: groups) },
            "UNetConfiguration: level channels \(levelChannels) must all be multiples of groups \(groups)")
    }

    /// The number of scalar parameters of a `UNet` with this configuration, counted from
    /// the architecture without building it.
    public var parameterCount: Int {
        validate()
        let channels = levelChannels
        let features = timeFeatures

        func conv(_ input: Int, _ output: Int, kernel: Int) -> Int { input * output * kernel * kernel + output }
        func linear(_ input: Int, _ output: Int) -> Int { input * output + output }
        func block(_ input: Int, _ output: Int) -> Int {
            2 * input + conv(input, output, kernel: 3) + linear(features, output) + 2 * output
                + conv(output, output, kernel: 3) + (input == output ? 0 : conv(input, output, kernel: 1))
        }

        var count = linear(baseChannels, features) + linear(features, features)
        count += conv(inputChannels, channels[0], kernel: 3)

        var current = channels[0]
        for (level, levelChannels) in channels.enumerated() {
            for _ in 0..<residualBlocksPerLevel {
                count += block(current, levelChannels)
                current = levelChannels
            }
            if level < channels.count - 1 && downsampling == .stridedConvolution {
                count += conv(levelChannels, levelChannels, kernel: 3)
            }
        }

        for level in (0..<(channels.count - 1)).reversed() {
            count += conv(current, channels[level], kernel: 3)
            current = 2 * channels[level]
            for _ in 0..<residualBlocksPerLevel {
                count += block(current, channels[level])
                current = channels[level]
            }
        }

        count += 2 * channels[0] + conv(channels[0], outputChannels, kernel: 3)
        return count
    }
}
