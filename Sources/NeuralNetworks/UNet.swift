import Tensors

/// A small time-conditioned U-Net, the ε-model shape `ε(x, t)`:
/// `[N, C, H, W] × [N] → [N, C_out, H, W]`.
///
/// With `L` levels of `c_l` channels, `D = residualBlocksPerLevel`, `E = 4 · baseChannels`
/// and `R` a `TimeConditionedResidualBlock` (GroupNorm, SiLU, 3×3 conv, time shift,
/// GroupNorm, SiLU, 3×3 conv, plus a residual path):
///
///     time:    e = SiLU(Linear(E→E)(SiLU(Linear(c_0→E)(sinusoidal_{c_0}(t)))))
///     input:   h = Conv3×3(C→c_0)(x)
///     down:    for l = 0…L-1:
///                  h = R(h, e) D times, the first into c_l channels
///                  s_l = h
///                  if l < L-1: h = Down(h), halving height and width
///     up:      for l = L-2…0:
///                  h = Conv3×3(c_{l+1}→c_l)(UpsampleNearest×2(h))
///                  h = concatenate([h, s_l], channels)            (2 c_l channels)
///                  h = R(h, e) D times, the first from 2 c_l channels into c_l
///     output:  ε = Conv3×3(c_0→C_out)(SiLU(GroupNorm(c_0)(h)))
///
/// `Down` is a stride-2 3×3 convolution with padding 1 or a 2×2 average pool (see
/// `UNetConfiguration.Downsampling`). The deepest level's blocks are the bottleneck; its
/// `s_{L-1}` is not used, and there is no separate middle block and no attention.
/// `sinusoidal_{c_0}` is `SinusoidalTimeEmbedding` with `c_0` entries, sines first.
///
/// Valid inputs: `H` and `W` multiples of `2^(L-1)`, so that every halving is exact and
/// upsampling restores the skip's size. With `[1, 2, 4]`, 28×28 goes 28 → 14 → 7 and
/// 32×32 goes 32 → 16 → 8; odd sizes are fine at the deepest level, where no halving
/// follows.
///
/// Parameter names: `time.layers.{0,1}.*`, `inputConv.*`, `down.{l}.blocks.{d}.*`,
/// `down.{l}.downsample.*` (strided convolution only), `up.{l}.upsample.*`,
/// `up.{l}.blocks.{d}.*`, `outputNorm.*`, `outputConv.*`. Initialisation is PyTorch's
/// default for every convolution and linear layer, drawn from the generator in the order
/// of these names; GroupNorm starts at γ = 1, β = 0.
public final class UNet<Scalar: TensorScalar>: Module {
    public let configuration: UNetConfiguration
    public let timeEmbedding: SinusoidalTimeEmbedding<Scalar>
    /// The two-layer MLP `c_0 → E → E` on the sinusoidal embedding.
    public let timeMLP: MLP<Scalar>
    public let inputConv: Conv2D<Scalar>
    public let down: [DownLevel]
    /// The levels of the upward path, indexed by level: `up[l]` returns to level `l`'s
    /// resolution, for `l = 0…L-2`.
    public let up: [UpLevel]
    public let outputNorm: GroupNorm<Scalar>
    public let outputConv: Conv2D<Scalar>

    /// One level of the downward path.
    public final class DownLevel: Module {
        public let blocks: [TimeConditionedResidualBlock<Scalar>]
        /// The strided convolution after the blocks, nil at the last level or with average pooling.
        public let downsample: Conv2D<Scalar>?

        init(blocks: [TimeConditionedResidualBlock<Scalar>], downsample: Conv2D<Scalar>?) {
            self.blocks = blocks
            self.downsample = downsample
        }

        public var namedParameters: [(name: String, parameter: Variable<Scalar>)] {
            blocks.enumerated().flatMap { index, block in block.namedParameters(prefix: "blocks.\(index)") }
                + (downsample?.namedParameters(prefix: "downsample") ?? [])
        }
    }

    /// One level of the upward path.
    public final class UpLevel: Module {
        /// The 3×3 convolution after nearest-neighbour upsampling.
        public let upsample: Conv2D<Scalar>
        public let blocks: [TimeConditionedResidualBlock<Scalar>]

        init(upsample: Conv2D<Scalar>, blocks: [TimeConditionedResidualBlock<Scalar>]) {
            self.upsample = upsample
            self.blocks = blocks
        }

        public var namedParameters: [(name: String, parameter: Variable<Scalar>)] {
            upsample.namedParameters(prefix: "upsample")
                + blocks.enumerated().flatMap { index, block in block.namedParameters(prefix: "blocks.\(index)") }
        }
    }

    /// Creates a U-Net with parameters drawn from `generator`.
    ///
    /// - Parameters:
    ///   - configuration: the sizes; see `UNetConfiguration`.
    ///   - outputInitialization: the distribution of `outputConv`; `.zeros` makes the
    ///     network start as the zero function, as for a correction added to a frozen model.
    ///   - generator: the source of the draws; the same state gives the same parameters.
    public init(
        configuration: UNetConfiguration, outputInitialization: ParameterInitialization = .pytorchDefault,
        using generator: inout PhiloxRandom
    ) {
        configuration.validate()
        self.configuration = configuration
        let channels = configuration.levelChannels
        let (blockCount, groups, features) =
            (configuration.residualBlocksPerLevel, configuration.groups, configuration.timeFeatures)

        func makeBlocks(from input: Int, to output: Int) -> [TimeConditionedResidualBlock<Scalar>] {
            (0..<blockCount).map { index in
                TimeConditionedResidualBlock(
                    inputChannels: index == 0 ? input : output, outputChannels: output, timeFeatures: features,
                    groups: groups, using: &generator)
            }
        }

        timeEmbedding = SinusoidalTimeEmbedding(dimension: configuration.baseChannels, timeScale: configuration.timeScale)
        timeMLP = MLP(sizes: [configuration.baseChannels, features, features], activation: .silu, using: &generator)
        inputConv = Conv2D(
            inputChannels: configuration.inputChannels, outputChannels: channels[0], kernelSize: 3, padding: 1,
            using: &generator)

        var down: [DownLevel] = []
        var current = channels[0]
        for (level, levelChannels) in channels.enumerated() {
            let blocks = makeBlocks(from: current, to: levelChannels)
            current = levelChannels
            let halves = level < channels.count - 1 && configuration.downsampling == .stridedConvolution
            let downsample = halves
                ? Conv2D<Scalar>(
                    inputChannels: levelChannels, outputChannels: levelChannels, kernelSize: 3, stride: 2, padding: 1,
                    using: &generator)
                : nil
            down.append(DownLevel(blocks: blocks, downsample: downsample))
        }
        self.down = down

        var upByLevel: [Int: UpLevel] = [:]
        for level in (0..<(channels.count - 1)).reversed() {
            let upsample = Conv2D<Scalar>(
                inputChannels: current, outputChannels: channels[level], kernelSize: 3, padding: 1, using: &generator)
            let blocks = makeBlocks(from: 2 * channels[level], to: channels[level])
            current = channels[level]
            upByLevel[level] = UpLevel(upsample: upsample, blocks: blocks)
        }
        up = (0..<(channels.count - 1)).map { upByLevel[$0]! }

        outputNorm = GroupNorm(groups: groups, channels: channels[0])
        outputConv = Conv2D(
            inputChannels: channels[0], outputChannels: configuration.outputChannels, kernelSize: 3, padding: 1,
            initialization: outputInitialization, using: &generator)
    }

    public var namedParameters: [(name: String, parameter: Variable<Scalar>)] {
        var result = timeMLP.namedParameters(prefix: "time") + inputConv.namedParameters(prefix: "inputConv")
        for (level, downLevel) in down.enumerated() {
            result += downLevel.namedParameters(prefix: "down.\(level)")
        }
        for level in (0..<up.count).reversed() {
            result += up[level].namedParameters(prefix: "up.\(level)")
        }
        return result + outputNorm.namedParameters(prefix: "outputNorm")
            + outputConv.namedParameters(prefix: "outputConv")
    }

    /// Returns `ε(x, t)` for images `x` `[N, inputChannels, H, W]` and times `t` `[N]`.
    public func callAsFunction(_ x: Variable<Scalar>, _ t: Variable<Scalar>) -> Variable<Scalar> {
        let divisor = configuration.sizeDivisor
        precondition(
            x.rank == 4 && x.shape[1] == configuration.inputChannels,
            "UNet: input of shape \(x.shape) must be [N, \(configuration.inputChannels), H, W]")
        precondition(
            x.shape[2].isMultiple(of: divisor) && x.shape[3].isMultiple(of: divisor),
            "UNet: height and width of input \(x.shape) must be multiples of \(divisor), one halving per level after the first")
        precondition(t.shape == [x.shape[0]], "UNet: times of shape \(t.shape) must be [\(x.shape[0])], one per image")

        let e = silu(timeMLP(timeEmbedding(t)))
        var h = inputConv(x)

        var skips: [Variable<Scalar>] = []
        for (level, downLevel) in down.enumerated() {
            for block in downLevel.blocks {
                h = block(h, timeFeatures: e)
            }
            skips.append(h)
            if level < down.count - 1 {
                h = downLevel.downsample.map { $0(h) } ?? avgPool2d(h, kernelSize: 2)
            }
        }

        for level in (0..<up.count).reversed() {
            let upLevel = up[level]
            h = upLevel.upsample(upsampleNearest2d(h, factor: 2))
            h = Variable.concatenate([h, skips[level]], alongAxis: 1)
            for block in upLevel.blocks {
                h = block(h, timeFeatures: e)
            }
        }

        return outputConv(outputNorm(h, activation: .silu))
    }

    /// Returns `ε(x, t)` for plain tensors without recording a graph, for sampling.
    public func inferring(from x: Tensor<Scalar>, _ t: Tensor<Scalar>) -> Tensor<Scalar> {
        withoutRecording { self(Variable(x), Variable(t)).value }
    }

    /// Sets the output convolution's weight and bias to zero in place, so the network
    /// returns 0 until it is trained.
    public func zeroOutputLayer() {
        outputConv.zeroParameters()
    }
}
