// 3×3 convolutions with stride 1 and padding 1 by Winograd's F(2×2, 3×3): the forward
// pass of most U-Net convolutions and, through `flippedGeometry`, their input gradients.

/// The number of 2×2 output blocks that one batch of Winograd products aims for, so that
/// small images share their 16 matrix products. (A 28×28 image has 196 blocks.)
// NOTE: 196 is untuned. Only the whole U-Net step was timed, not other block counts.
let winogradBlockTarget = 196

/// Returns whether `convolutionForward` runs `g` by Winograd's F(2×2, 3×3): a 3×3 window,
/// stride 1 and padding 1.
func usesWinograd(_ g: ConvolutionGeometry) -> Bool {
    g.kernelHeight == 3 && g.kernelWidth == 3 && g.stride == 1 && g.padding == 1
}

/// Returns `conv2d(x, w) + bias` for a geometry that `usesWinograd`, with `w` holding the
/// filters `[O, C, 3, 3]` in that order.
///
/// Each core takes a run of images, `group` at a time: it transforms their input tiles
/// into `V` `[16, C, blocks]`, multiplies `M_ξ = U_ξ V_ξ` for the 16 components of the
/// transformed filters `U` `[16, O, C]`, and transforms each image's blocks of `M` back.
/// Per 2×2 block and channel pair that is 16 multiply–adds instead of the 36 of im2col.
func winogradConvolutionForward<Scalar>(
    _ x: Tensor<Scalar>, filter w: Tensor<Scalar>, bias: Tensor<Scalar>?, outputChannels: Int, geometry g: ConvolutionGeometry
) -> Tensor<Scalar> {
    precondition(usesWinograd(g), "winogradConvolutionForward: geometry \(g) is not 3×3 with stride 1 and padding 1")
    let (batch, channels) = (x.shape[0], g.channels)
    let blocksPerImage = ((g.outputHeight + 1) / 2) * ((g.outputWidth + 1) / 2)
    let chunkCount = convolutionChunkCount(batch: batch)
    let imagesPerChunk = (batch + chunkCount - 1) / Swift.max(chunkCount, 1)
    let group = Swift.max(1, Swift.min(imagesPerChunk, winogradBlockTarget / blocksPerImage))
    let blocks = group * blocksPerImage

    let transformedFilter = Tensor<Scalar>(shape: [16, outputChannels, channels]) { u in
        w.withUnsafeBufferPointer { filter in
            Scalar.winogradFilterTransform(filter.baseAddress!, u.baseAddress!, outputChannels: outputChannels, channels: channels)
        }
    }
    let outputSize = outputChannels * g.positions
    // An empty tensor is a placeholder for a missing bias, so that one pointer serves both cases.
    let biasValues = bias ?? Tensor(zeros: [0])
    return Tensor(shape: [batch, outputChannels, g.outputHeight, g.outputWidth]) { output in
        x.withUnsafeBufferPointer { xBuffer in
            transformedFilter.withUnsafeBufferPointer { uBuffer in
                biasValues.withUnsafeBufferPointer { biasBuffer in
                    let (images, u, result) = (xBuffer.baseAddress!, uBuffer.baseAddress!, output.baseAddress!)
                    let biasPointer = bias == nil ? nil : UnsafePointer(biasBuffer.baseAddress!)
                    forEachBatchChunk(batch: batch, chunkCount: chunkCount) { _, range in
                        let (inputSize, productSize) = (16 * channels * blocks, 16 * outputChannels * blocks)
                        let scratch = UnsafeMutablePointer<Scalar>.allocate(capacity: inputSize + productSize)
                        defer { scratch.deallocate() }
                        let (v, m) = (scratch, scratch + inputSize)

                        for first in stride(from: range.lowerBound, to: range.upperBound, by: group) {
                            let count = Swift.min(group, range.upperBound - first)
                            for i in 0..<count {
                                Scalar.winogradInputTransform(
                                    images + (first + i) * g.imageSize, v + i * blocksPerImage, geometry: g,
                                    componentStride: channels * blocks, channelStride: blocks)
                            }

                            // M_ξ = U_ξ V_ξ, [O, C] · [C, blocks].
                            for component in 0..<16 {
                                Scalar.gemm(
                                    transposeA: false, transposeB: false, m: outputChannels, n: count * blocksPerImage,
                                    k: channels, alpha: 1, a: u + component * outputChannels * channels, lda: channels,
                                    b: v + component * channels * blocks, ldb: blocks,
                                    beta: 0, c: m + component * outputChannels * blocks, ldc: blocks)
                            }

                            for i in 0..<count {
                                Scalar.winogradOutputTransform(
                                    m + i * blocksPerImage, result + (first + i) * outputSize,
                                    outputChannels: outputChannels, outputHeight: g.outputHeight,
                                    outputWidth: g.outputWidth, componentStride: outputChannels * blocks,
                                    channelStride: blocks, bias: biasPointer)
                            }
                        }
                    }
                }
            }
        }
    }
}
