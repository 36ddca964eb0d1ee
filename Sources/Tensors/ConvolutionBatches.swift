import Foundation

// Batched convolution products on im2col, col2im and BLAS. With the filter viewed as a
// matrix W of shape [O, K], K = C·kH·kW, and the columns X_n = im2col(x_n) of shape
// [K, P], P = Hout·Wout, every convolution operation is one GEMM per image:
//
//     forward          y_n = W X_n
//     adjoint          x_n = col2im(Wᵀ y_n)
//     filter gradient  dW  = Σ_n dy_n X_nᵀ
//
// conv2d uses them as forward, input gradient and filter gradient; convTranspose2d,
// whose forward is the adjoint of a convolution, uses them the other way round.

/// Splits `0..<batch` into `chunkCount` contiguous runs and calls `body(chunk, images)`
/// for each, concurrently when `chunkCount > 1`.
func forEachBatchChunk(batch: Int, chunkCount: Int, _ body: (_ chunk: Int, _ images: Range<Int>) -> Void) {
    parallelChunks(chunkCount, minimumChunk: 1) { chunks in
        for chunk in chunks {
            body(chunk, (batch * chunk / chunkCount)..<(batch * (chunk + 1) / chunkCount))
        }
    }
}

/// The number of concurrent runs to split a batch of images into: one per core.
///
/// Measured on 2 cores in Float, forward and backward, 3×3 kernels, padding 1. With
/// OpenBLAS on its default two threads, this is as fast as a serial loop of threaded GEMMs
/// for [32, 32, 28, 28] → 64 channels, and about 1.3 times faster for [256, 16, 14, 14]
/// → 16, whose small GEMMs OpenBLAS runs on one thread. With OpenBLAS on one thread
/// (`OPENBLAS_NUM_THREADS=1`), it is the fastest variant, 1.4 times faster than either.
func convolutionChunkCount(batch: Int) -> Int {
    Swift.max(1, Swift.min(processorCount, batch))
}

/// The number of columns, `images · positions`, that one convolution GEMM aims for.
///
/// Measured in process CPU time of a Float 3×3 convolution on 16 images (OpenBLAS 0.3.21
/// SkylakeX kernels, 2-core Xeon VM, other jobs running). At 7×7 with 128 → 128
/// channels, 256 columns (5 images) cut the forward from 2.89 to 2.62 ms. At 14×14, 512
/// or more columns made it 7 to 25 % slower, so 14×14 images keep one GEMM each.
let productColumnTarget = 256

/// Returns the number of images whose columns share one GEMM, out of a run of `images`.
///
/// Small images give products with few columns, where OpenBLAS packs the filter again
/// for every image and the kernel runs short panels. Placing several images' columns
/// side by side amortises both, at the cost of gathering the outputs afterwards.
func imagesPerProduct(positions: Int, images: Int) -> Int {
    Swift.max(1, Swift.min(images, productColumnTarget / Swift.max(positions, 1)))
}

/// Returns whether the columns of an image are the image itself: a 1×1 kernel, stride 1, no padding.
func isPointwise(_ g: ConvolutionGeometry) -> Bool {
    g.kernelHeight == 1 && g.kernelWidth == 1 && g.stride == 1 && g.padding == 0
}

/// Copies one image's `channels` rows of `positions` elements between a batch tensor
/// and its column block of a grouped matrix, with the row strides of each side.
@inline(__always)
func copyImageBlock<Scalar>(
    channels: Int, positions: Int, from source: UnsafePointer<Scalar>, sourceRowStride: Int,
    to destination: UnsafeMutablePointer<Scalar>, destinationRowStride: Int
) {
    for channel in 0..<channels {
        (destination + channel * destinationRowStride).update(from: source + channel * sourceRowStride, count: positions)
    }
}

/// Returns `y_n = W im2col(x_n) + bias 1ᵀ` as `[N, O, outputHeight, outputWidth]` for
/// images `x` of `[N, C, H, W]` and a filter `w` holding the `O × K` matrix W.
///
/// 3×3 windows with stride 1 and padding 1 run as `winogradConvolutionForward`, which
/// gives the same values up to rounding. Otherwise each core takes a run of images and
/// multiplies W by the columns of `imagesPerProduct` images at a time, `[K, group · P]`,
/// then copies each image's block of the product into place.
func convolutionForward<Scalar>(
    _ x: Tensor<Scalar>, filter w: Tensor<Scalar>, bias: Tensor<Scalar>?, outputChannels: Int, geometry g: ConvolutionGeometry
) -> Tensor<Scalar> {
    if usesWinograd(g) {
        return winogradConvolutionForward(x, filter: w, bias: bias, outputChannels: outputChannels, geometry: g)
    }
    let batch = x.shape[0]
    let (rows, positions) = (g.columnRows, g.positions)
    let chunkCount = convolutionChunkCount(batch: batch)
    let group = imagesPerProduct(positions: positions, images: (batch + chunkCount - 1) / Swift.max(chunkCount, 1))
    let leadingDimension = group * positions
    let channelBias = bias.map { ChannelBias($0, positions: leadingDimension) }
    // One image that needs no im2col multiplies the image itself, into the output itself.
    let columnsCount = group == 1 && isPointwise(g) ? 0 : rows * leadingDimension
    let productCount = group == 1 ? 0 : outputChannels * leadingDimension
    return Tensor(shape: [batch, outputChannels, g.outputHeight, g.outputWidth]) { output in
        x.withUnsafeBufferPointer { xBuffer in
            w.withUnsafeBufferPointer { wBuffer in
                let (images, filter, result) = (xBuffer.baseAddress!, wBuffer.baseAddress!, output.baseAddress!)
                forEachBatchChunk(batch: batch, chunkCount: chunkCount) { _, range in
                    let scratch = UnsafeMutablePointer<Scalar>.allocate(capacity: Swift.max(1, columnsCount + productCount))
                    defer { scratch.deallocate() }
                    let (columns, product) = (scratch, scratch + columnsCount)
                    for first in stride(from: range.lowerBound, to: range.upperBound, by: group) {
                        let count = Swift.min(group, range.upperBound - first)
                        for i in 0..<(columnsCount == 0 ? 0 : count) {
                            Scalar.im2col(
                                images + (first + i) * g.imageSize, columns + i * positions, geometry: g,
                                leadingDimension: leadingDimension)
                        }
                        // With a bias, the product starts as bias 1ᵀ and the GEMM adds onto it.
                        let c = productCount == 0 ? result + first * outputChannels * positions : product
                        if let bias = channelBias { bias.initialize(c) }
                        Scalar.gemm(
                            transposeA: false, transposeB: false, m: outputChannels, n: count * positions, k: rows,
                            alpha: 1, a: filter, lda: rows,
                            b: columnsCount == 0 ? images + first * g.imageSize : UnsafePointer(columns), ldb: leadingDimension,
                            beta: channelBias == nil ? 0 : 1, c: c, ldc: leadingDimension)
                        for i in 0..<(productCount == 0 ? 0 : count) {
                            copyImageBlock(
                                channels: outputChannels, positions: positions,
                                from: product + i * positions, sourceRowStride: leadingDimension,
                                to: result + (first + i) * outputChannels * positions, destinationRowStride: positions)
                        }
                    }
                }
            }
        }
    }
}

/// Returns `x_n = col2im(Wᵀ y_n) + bias 1ᵀ` as `[N, C, H, W]` for `y` of `[N, O,
/// outputHeight, outputWidth]`: without the bias, the adjoint of `convolutionForward`
/// with respect to its images. Stride-1 square windows run as the convolution of
/// `flippedGeometry` instead, which gives the same values up to rounding.
func convolutionAdjoint<Scalar>(
    _ y: Tensor<Scalar>, filter w: Tensor<Scalar>, bias: Tensor<Scalar>?, outputChannels: Int, geometry g: ConvolutionGeometry
) -> Tensor<Scalar> {
    if let flipped = flippedGeometry(g, outputChannels: outputChannels) {
        return convolutionForward(
            y, filter: flippedFilter(w, outputChannels: outputChannels, geometry: g), bias: bias, outputChannels: g.channels,
            geometry: flipped)
    }
    let batch = y.shape[0]
    let (rows, positions) = (g.columnRows, g.positions)
    let chunkCount = convolutionChunkCount(batch: batch)
    let group = imagesPerProduct(positions: positions, images: (batch + chunkCount - 1) / Swift.max(chunkCount, 1))
    let leadingDimension = group * positions
    let channelBias = bias.map { ChannelBias($0, positions: g.height * g.width) }
    // One image of a 1×1 convolution is the GEMM's output itself.
    let columnsCount = group == 1 && isPointwise(g) ? 0 : rows * leadingDimension
    let gatheredCount = group == 1 ? 0 : outputChannels * leadingDimension
    return Tensor(shape: [batch, g.channels, g.height, g.width]) { output in
        y.withUnsafeBufferPointer { yBuffer in
            w.withUnsafeBufferPointer { wBuffer in
                let (cotangents, filter, result) = (yBuffer.baseAddress!, wBuffer.baseAddress!, output.baseAddress!)
                forEachBatchChunk(batch: batch, chunkCount: chunkCount) { _, range in
                    let scratch = UnsafeMutablePointer<Scalar>.allocate(capacity: Swift.max(1, columnsCount + gatheredCount))
                    defer { scratch.deallocate() }
                    let (columns, gathered) = (scratch, scratch + columnsCount)
                    for first in stride(from: range.lowerBound, to: range.upperBound, by: group) {
                        let count = Swift.min(group, range.upperBound - first)
                        for i in 0..<(gatheredCount == 0 ? 0 : count) {
                            copyImageBlock(
                                channels: outputChannels, positions: positions,
                                from: cotangents + (first + i) * outputChannels * positions, sourceRowStride: positions,
                                to: gathered + i * positions, destinationRowStride: leadingDimension)
                        }
                        let b = gatheredCount == 0 ? cotangents + first * outputChannels * positions : UnsafePointer(gathered)
                        Scalar.gemm(
                            transposeA: true, transposeB: false, m: rows, n: count * positions, k: outputChannels,
                            alpha: 1, a: filter, lda: rows, b: b, ldb: leadingDimension,
                            beta: 0, c: columnsCount == 0 ? result + first * g.imageSize : columns, ldc: leadingDimension)
                        for i in 0..<count {
                            let image = result + (first + i) * g.imageSize
                            if columnsCount != 0 {
                                Scalar.col2im(columns + i * positions, image, geometry: g, leadingDimension: leadingDimension)
                            }
                            channelBias?.add(to: image)
                        }
                    }
                }
            }
        }
    }
}

/// Returns `Σ_n dy_n im2col(x_n)ᵀ` as an `O × K` matrix `[O, K]`: the gradient of
/// `⟨dy, convolutionForward(x, W)⟩` with respect to W. Groups of `imagesPerProduct`
/// images share one GEMM, whose inner dimension is then `group · P`.
func convolutionFilterGradient<Scalar>(_ x: Tensor<Scalar>, cotangent dy: Tensor<Scalar>, outputChannels: Int, geometry g: ConvolutionGeometry) -> Tensor<Scalar> {
    let batch = x.shape[0]
    let (rows, positions) = (g.columnRows, g.positions)
    let matrixSize = outputChannels * rows
    guard batch > 0 else { return Tensor(zeros: [outputChannels, rows]) }

    // Each run of images accumulates its own partial sum; the partials are added at the end.
    let chunkCount = convolutionChunkCount(batch: batch)
    let group = imagesPerProduct(positions: positions, images: (batch + chunkCount - 1) / chunkCount)
    let leadingDimension = group * positions
    let columnsCount = group == 1 && isPointwise(g) ? 0 : rows * leadingDimension
    let gatheredCount = group == 1 ? 0 : outputChannels * leadingDimension
    let partials = Tensor<Scalar>(shape: [chunkCount, outputChannels, rows]) { output in
        x.withUnsafeBufferPointer { xBuffer in
            dy.withUnsafeBufferPointer { dyBuffer in
                let (images, cotangents, result) = (xBuffer.baseAddress!, dyBuffer.baseAddress!, output.baseAddress!)
                forEachBatchChunk(batch: batch, chunkCount: chunkCount) { chunk, range in
                    let scratch = UnsafeMutablePointer<Scalar>.allocate(capacity: Swift.max(1, columnsCount + gatheredCount))
                    defer { scratch.deallocate() }
                    let (columns, gathered) = (scratch, scratch + columnsCount)
                    for first in stride(from: range.lowerBound, to: range.upperBound, by: group) {
                        let count = Swift.min(group, range.upperBound - first)
                        for i in 0..<(columnsCount == 0 ? 0 : count) {
                            Scalar.im2col(
                                images + (first + i) * g.imageSize, columns + i * positions, geometry: g,
                                leadingDimension: leadingDimension)
                        }
                        for i in 0..<(gatheredCount == 0 ? 0 : count) {
                            copyImageBlock(
                                channels: outputChannels, positions: positions,
                                from: cotangents + (first + i) * outputChannels * positions, sourceRowStride: positions,
                                to: gathered + i * positions, destinationRowStride: leadingDimension)
                        }
                        Scalar.gemm(
                            transposeA: false, transposeB: true, m: outputChannels, n: rows, k: count * positions,
                            alpha: 1,
                            a: gatheredCount == 0 ? cotangents + first * outputChannels * positions : UnsafePointer(gathered),
                            lda: leadingDimension,
                            b: columnsCount == 0 ? images + first * g.imageSize : UnsafePointer(columns), ldb: leadingDimension,
                            beta: first == range.lowerBound ? 0 : 1, c: result + chunk * matrixSize, ldc: rows)
                    }
                }
            }
        }
    }
    return chunkCount == 1 ? partials.reshaped(to: [outputChannels, rows]) : partials.sum(alongAxes: [0]).reshaped(to: [outputChannels, rows])
}

/// Returns the geometry of the convolution that computes the adjoint of a stride-1
/// convolution `g` with `outputChannels` filters directly, or nil when there is none or
/// `g` needs no col2im.
///
/// With stride 1 and a square `k × k` window, the adjoint is itself a convolution of the
/// cotangent, with the filter turned half a turn and its two channel axes swapped
/// (`flippedFilter`), and padding `k − 1 − p`:
///
///     x[c, i, j] = Σ_{o, a, b} W[o, c, a, b] y[o, i + p − a, j + p − b]
///                = Σ_{o, a', b'} W[o, c, k−1−a', k−1−b'] y[o, i − (k−1−p) + a', j − (k−1−p) + b'].
///
/// That runs on im2col, which copies, instead of col2im, which accumulates, and skips
/// the column-sized GEMM output that col2im reads.
func flippedGeometry(_ g: ConvolutionGeometry, outputChannels: Int) -> ConvolutionGeometry? {
    guard g.stride == 1, g.kernelHeight == g.kernelWidth, g.padding <= g.kernelHeight - 1, !isPointwise(g) else { return nil }
    let flipped = ConvolutionGeometry(
        channels: outputChannels, height: g.outputHeight, width: g.outputWidth, kernelHeight: g.kernelHeight,
        kernelWidth: g.kernelWidth, stride: 1, padding: g.kernelHeight - 1 - g.padding)
    assert(flipped.outputHeight == g.height && flipped.outputWidth == g.width, "flippedGeometry: the adjoint's size differs")
    return flipped
}

/// Returns the filter `W'[c, o, a, b] = W[o, c, kH−1−a, kW−1−b]` as a `C × (O·kH·kW)`
/// matrix, for the filter `W` `[O, C, kH, kW]` of a convolution with geometry `g`.
func flippedFilter<Scalar>(_ w: Tensor<Scalar>, outputChannels: Int, geometry g: ConvolutionGeometry) -> Tensor<Scalar> {
    let (channels, taps) = (g.channels, g.kernelHeight * g.kernelWidth)
    return Tensor(shape: [channels, outputChannels * taps]) { output in
        w.withUnsafeBufferPointer { filter in
            for o in 0..<outputChannels {
                for c in 0..<channels {
                    let source = filter.baseAddress! + (o * channels + c) * taps
                    let destination = output.baseAddress! + (c * outputChannels + o) * taps
                    for tap in 0..<taps { destination[tap] = source[taps - 1 - tap] }
                }
            }
        }
    }
}

/// A per-channel bias added to one image `[channels, positions]` at a time, as the rank-1
/// update `y += bias 1ᵀ`, right after the image's GEMM while it is still in cache.
struct ChannelBias<Scalar: TensorScalar> {
    let bias: Tensor<Scalar>
    let ones: Tensor<Scalar>

    /// The loop nest of `[channels, 1] · [positions]`.
    let outerProductLayout: BroadcastLayout

    init(_ bias: Tensor<Scalar>, positions: Int) {
        self.bias = bias
        ones = Tensor(shape: [positions], repeating: 1)
        outerProductLayout = BroadcastLayout(lhsShape: [bias.scalarCount, 1], rhsShape: [positions])!
    }

    /// Writes `bias 1ᵀ` into one image, for a GEMM to accumulate onto. The product of the
    /// column `bias` and the row of ones runs as the specialised broadcast loop of
    /// `Scalar.apply`, because a generic loop here would not be specialised.
    func initialize(_ y: UnsafeMutablePointer<Scalar>) {
        bias.withUnsafeBufferPointer { b in
            ones.withUnsafeBufferPointer { one in
                Scalar.apply(.multiply, b.baseAddress!, one.baseAddress!, y, layout: outerProductLayout)
            }
        }
    }

    func add(to y: UnsafeMutablePointer<Scalar>) {
        let (channels, positions) = (bias.scalarCount, ones.scalarCount)
        bias.withUnsafeBufferPointer { b in
            ones.withUnsafeBufferPointer { one in
                Scalar.gemm(
                    transposeA: false, transposeB: false, m: channels, n: positions, k: 1,
                    alpha: 1, a: b.baseAddress!, lda: 1, b: one.baseAddress!, ldb: positions,
                    beta: 1, c: y, ldc: positions)
            }
        }
    }
}

/// Returns the sum of `dy` `[N, C, ...]` over every axis but the channels, as `[C]`:
/// the gradient of a per-channel bias.
func channelSums<Scalar>(_ dy: Tensor<Scalar>) -> Tensor<Scalar> {
    dy.sum(alongAxes: [0] + Array(2..<dy.rank)).reshaped(to: [dy.shape[1]])
}
