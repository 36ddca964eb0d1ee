// Group normalisation (Wu and He, 2018) of tensors [N, C, ...].

/// Returns the group normalisation of `x` `[N, C, ...]` with any number of spatial axes
/// (including none):
///
///     y[n, c, …] = scale[c] · (x[n, c, …] − μ[n, g]) / √(σ²[n, g] + ε) + offset[c],
///
/// where the `C` channels form `groups` groups of `C / groups` consecutive channels, and
/// μ[n, g] and the biased variance σ²[n, g] are taken over the channels of group `g` and
/// all spatial positions of sample `n` (PyTorch's `group_norm`). One group is layer
/// normalisation over channels and positions; `C` groups is instance normalisation.
///
/// - Parameters:
///   - scale: `[C]`, the per-channel γ.
///   - offset: `[C]`, the per-channel β.
public func groupNorm<S>(_ x: Tensor<S>, groups: Int, scale: Tensor<S>, offset: Tensor<S>, epsilon: S = 1e-5) -> Tensor<S> {
    groupNormForward(x, groups: groups, scale: scale, offset: offset, epsilon: epsilon).output
}

/// Differentiable `groupNorm`, with one fused pass over the data for the forward
/// statistics and two for the pullback (see `groupNormBackwardKernel` for the formula).
public func groupNorm<S>(_ x: Variable<S>, groups: Int, scale: Variable<S>, offset: Variable<S>, epsilon: S = 1e-5) -> Variable<S> {
    let (input, gamma) = (x.value, scale.value)
    let forward = groupNormForward(input, groups: groups, scale: gamma, offset: offset.value, epsilon: epsilon)
    let (statistics, layout) = (forward.statistics, forward.layout)
    let inputNeedsGradient = x.requiresGrad

    return Variable(value: forward.output, parents: [x, scale, offset]) { dy in
        let backward = groupNormBackward(
            input, cotangent: dy, scale: gamma, statistics: statistics, layout: layout,
            computingInputGradient: inputNeedsGradient)
        return [backward.inputGradient, backward.scaleGradient, backward.offsetGradient]
    }
}

/// Returns `silu(groupNorm(x, …))`, the normalisation and activation that open each
/// residual block of a diffusion U-Net, in one pass over the data instead of two. The
/// values are those of the two operations applied in turn, bit for bit.
public func groupNormSiLU<S>(
    _ x: Tensor<S>, groups: Int, scale: Tensor<S>, offset: Tensor<S>, epsilon: S = 1e-5
) -> Tensor<S> {
    groupNormForward(x, groups: groups, scale: scale, offset: offset, epsilon: epsilon, appliesSiLU: true).output
}

/// Differentiable `groupNormSiLU`. It keeps only the group statistics, not the group
/// norm's output, which the pullback recomputes. Its gradients equal those of
/// `silu(groupNorm(x, …))` bit for bit.
public func groupNormSiLU<S>(
    _ x: Variable<S>, groups: Int, scale: Variable<S>, offset: Variable<S>, epsilon: S = 1e-5
) -> Variable<S> {
    let (input, gamma, beta) = (x.value, scale.value, offset.value)
    let forward = groupNormForward(input, groups: groups, scale: gamma, offset: beta, epsilon: epsilon, appliesSiLU: true)
    let (statistics, layout) = (forward.statistics, forward.layout)
    let inputNeedsGradient = x.requiresGrad

    return Variable(value: forward.output, parents: [x, scale, offset]) { dy in
        let backward = groupNormBackward(
            input, cotangent: dy, scale: gamma, statistics: statistics, layout: layout,
            computingInputGradient: inputNeedsGradient, siluOffset: beta)
        return [backward.inputGradient, backward.scaleGradient, backward.offsetGradient]
    }
}

/// Samples per worker, so that each parallel chunk of a group norm covers about 2¹⁶ elements.
func groupNormMinimumChunk(_ sampleSize: Int) -> Int {
    Swift.max(1, (1 << 16) / Swift.max(sampleSize, 1))
}

/// Checks the shapes, then returns the normalised output, passed through SiLU when
/// `appliesSiLU`, with the statistics that the pullback reuses: `[2, N, groups]`, the
/// means, then the inverse standard deviations.
func groupNormForward<S>(
    _ x: Tensor<S>, groups: Int, scale: Tensor<S>, offset: Tensor<S>, epsilon: S, appliesSiLU: Bool = false
) -> (output: Tensor<S>, statistics: Tensor<S>, layout: GroupNormLayout) {
    precondition(x.rank >= 2, "groupNorm: input of shape \(x.shape) must be [N, C, ...]")
    let channels = x.shape[1]
    precondition(
        groups >= 1 && channels % groups == 0,
        "groupNorm: \(channels) channels of input \(x.shape) do not split into \(groups) equal groups")
    precondition(scale.shape == [channels], "groupNorm: scale of shape \(scale.shape) must be [\(channels)] for input \(x.shape)")
    precondition(offset.shape == [channels], "groupNorm: offset of shape \(offset.shape) must be [\(channels)] for input \(x.shape)")
    precondition(epsilon >= 0, "groupNorm: epsilon \(epsilon) must not be negative")

    let layout = GroupNormLayout(
        batch: x.shape[0], channels: channels, groups: groups, spatial: x.shape.dropFirst(2).reduce(1, *))
    let rowSize = channels * layout.spatial
    var statistics = Tensor<S>(zeros: [0])
    let output = Tensor<S>(shape: x.shape) { outputBuffer in
        statistics = Tensor(shape: [2, layout.batch, groups]) { statisticsBuffer in
            let (mean, inverse) = (statisticsBuffer.baseAddress!, statisticsBuffer.baseAddress! + layout.batch * groups)
            x.withUnsafeBufferPointer { xBuffer in
                scale.withUnsafeBufferPointer { gammaBuffer in
                    offset.withUnsafeBufferPointer { betaBuffer in
                        parallelChunks(layout.batch, minimumChunk: groupNormMinimumChunk(rowSize)) { range in
                            var chunk = layout
                            chunk.batch = range.count
                            let (first, groupOffset) = (range.lowerBound, range.lowerBound * groups)
                            let (input, output) = (xBuffer.baseAddress! + first * rowSize, outputBuffer.baseAddress! + first * rowSize)
                            let (gamma, beta) = (gammaBuffer.baseAddress!, betaBuffer.baseAddress!)
                            if appliesSiLU {
                                S.groupNormSiLUForward(
                                    input, output, scale: gamma, offset: beta, mean: mean + groupOffset,
                                    inverseStandardDeviation: inverse + groupOffset, layout: chunk, epsilon: epsilon)
                            } else {
                                S.groupNormForward(
                                    input, output, scale: gamma, offset: beta, mean: mean + groupOffset,
                                    inverseStandardDeviation: inverse + groupOffset, layout: chunk, epsilon: epsilon)
                            }
                        }
                    }
                }
            }
        }
    }
    return (output, statistics, layout)
}

/// Returns the gradients of ⟨dy, groupNorm(x)⟩ with respect to the input (when asked),
/// the scale and the offset, from the forward `statistics` `[2, N, groups]` (means, then
/// inverse standard deviations). With `siluOffset`, the offset β of the forward pass, they
/// are the gradients of ⟨dy, groupNormSiLU(x)⟩ instead.
func groupNormBackward<S>(
    _ x: Tensor<S>, cotangent dy: Tensor<S>, scale: Tensor<S>, statistics: Tensor<S>, layout: GroupNormLayout,
    computingInputGradient: Bool, siluOffset: Tensor<S>? = nil
) -> (inputGradient: Tensor<S>?, scaleGradient: Tensor<S>, offsetGradient: Tensor<S>) {
    let rowSize = layout.channels * layout.spatial
    let statisticsCount = layout.batch * layout.groups
    let channelCount = layout.batch * layout.channels

    // Fills the per-(sample, channel) sums [2, N, C] (Σ dy, then Σ dy x̂), and dx unless nil.
    func run(_ dx: UnsafeMutablePointer<S>?, _ sums: UnsafeMutablePointer<S>) {
        x.withUnsafeBufferPointer { xBuffer in
            dy.withUnsafeBufferPointer { dyBuffer in
                scale.withUnsafeBufferPointer { gammaBuffer in
                    statistics.withUnsafeBufferPointer { statisticsBuffer in
                        parallelChunks(layout.batch, minimumChunk: groupNormMinimumChunk(rowSize)) { range in
                            var chunk = layout
                            chunk.batch = range.count
                            let (first, groupOffset) = (range.lowerBound, range.lowerBound * layout.groups)
                            let (input, cotangent) = (xBuffer.baseAddress! + first * rowSize, dyBuffer.baseAddress! + first * rowSize)
                            let mean = statisticsBuffer.baseAddress! + groupOffset
                            let inverse = statisticsBuffer.baseAddress! + statisticsCount + groupOffset
                            let (channelSums, productSums) = (sums + first * layout.channels, sums + channelCount + first * layout.channels)
                            if let siluOffset {
                                siluOffset.withUnsafeBufferPointer { betaBuffer in
                                    S.groupNormSiLUBackward(
                                        input, cotangent, dx.map { $0 + first * rowSize }, scale: gammaBuffer.baseAddress!,
                                        offset: betaBuffer.baseAddress!, mean: mean, inverseStandardDeviation: inverse,
                                        channelSums: channelSums, channelProductSums: productSums, layout: chunk)
                                }
                            } else {
                                S.groupNormBackward(
                                    input, cotangent, dx.map { $0 + first * rowSize }, scale: gammaBuffer.baseAddress!,
                                    mean: mean, inverseStandardDeviation: inverse, channelSums: channelSums,
                                    channelProductSums: productSums, layout: chunk)
                            }
                        }
                    }
                }
            }
        }
    }

    var inputGradient: Tensor<S>?
    var sums = Tensor<S>(zeros: [0])
    if computingInputGradient {
        inputGradient = Tensor(shape: x.shape) { dx in
            sums = Tensor(shape: [2, layout.batch, layout.channels]) { run(dx.baseAddress!, $0.baseAddress!) }
        }
    } else {
        sums = Tensor(shape: [2, layout.batch, layout.channels]) { run(nil, $0.baseAddress!) }
    }

    let parameterGradients = sums.sum(alongAxes: [1]).reshaped(to: [2, layout.channels])
    return (
        inputGradient,
        parameterGradients.slice(alongAxis: 0, 1..<2).reshaped(to: [layout.channels]),
        parameterGradients.slice(alongAxis: 0, 0..<1).reshaped(to: [layout.channels])
    )
}
