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

/// Returns whether the columns of an image are the image itself: a 1×1 kernel, stride 1, no padding.
func isPointwise(_ g: ConvolutionGeometry) -> Bool {
    g.kernelHeight == 1 && g.kernelWidth == 1 && g.stride == 1 && g.padding == 0
}

/// Returns `y_n = W im2col(x_n) + bias 1ᵀ` as `[N, O, outputHeight, outputWidth]` for
/// images `x` of `[N, C, H, W]` and a filter `w` holding the `O × K` matrix W.
func convolutionForward<Scalar>(
    _ x: Tensor<Scalar>, filter w: Tensor<Scalar>, bias: Tensor<Scalar>?, outputChannels: Int, geometry g: ConvolutionGeometry
) -> Tensor<Scalar> {
    let batch = x.shape[0]
    let (rows, positions) = (g.columnRows, g.positions)
    let chunkCount = convolutionChunkCount(batch: batch)
    let channelBias = bias.map { ChannelBias($0, positions: positions) }
    return Tensor(shape: [batch, outputChannels, g.outputHeight, g.outputWidth]) { output in
        x.withUnsafeBufferPointer { xBuffer in
            w.withUnsafeBufferPointer { wBuffer in
                let (images, filter, result) = (xBuffer.baseAddress!, wBuffer.baseAddress!, output.baseAddress!)
                forEachBatchChunk(batch: batch, chunkCount: chunkCount) { _, range in
                    let scratch = isPointwise(g) ? nil : UnsafeMutablePointer<Scalar>.allocate(capacity: rows * positions)
                    defer { scratch?.deallocate() }
                    for n in range {
                        let image = images + n * g.imageSize
                        let y = result + n * outputChannels * positions
                        if let scratch { Scalar.im2col(image, scratch, geometry: g) }
                        // With a bias, y starts as bias 1ᵀ and the product is added onto it.
                        if let bias = channelBias { bias.initialize(y) }
                        Scalar.gemm(
                            transposeA: false, transposeB: false, m: outputChannels, n: positions, k: rows,
                            alpha: 1, a: filter, lda: rows, b: scratch.map { UnsafePointer($0) } ?? image, ldb: positions,
                            beta: channelBias == nil ? 0 : 1, c: y, ldc: positions)
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
    let channelBias = bias.map { ChannelBias($0, positions: g.height * g.width) }
    return Tensor(shape: [batch, g.channels, g.height, g.width]) { output in
        y.withUnsafeBufferPointer { yBuffer in
            w.withUnsafeBufferPointer { wBuffer in
                let (cotangents, filter, result) = (yBuffer.baseAddress!, wBuffer.baseAddress!, output.baseAddress!)
                forEachBatchChunk(batch: batch, chunkCount: chunkCount) { _, range in
                    let scratch = isPointwise(g) ? nil : UnsafeMutablePointer<Scalar>.allocate(capacity: rows * positions)
                    defer { scratch?.deallocate() }
                    for n in range {
                        let image = result + n * g.imageSize
                        Scalar.gemm(
                            transposeA: true, transposeB: false, m: rows, n: positions, k: outputChannels,
                            alpha: 1, a: filter, lda: rows, b: cotangents + n * outputChannels * positions, ldb: positions,
                            beta: 0, c: scratch ?? image, ldc: positions)
                        if let scratch { Scalar.col2im(scratch, image, geometry: g) }
                        channelBias?.add(to: image)
                    }
                }
            }
        }
    }
}

/// Returns `Σ_n dy_n im2col(x_n)ᵀ` as an `O × K` matrix `[O, K]`: the gradient of
/// `⟨dy, convolutionForward(x, W)⟩` with respect to W.
func convolutionFilterGradient<Scalar>(_ x: Tensor<Scalar>, cotangent dy: Tensor<Scalar>, outputChannels: Int, geometry g: ConvolutionGeometry) -> Tensor<Scalar> {
    let batch = x.shape[0]
    let (rows, positions) = (g.columnRows, g.positions)
    let matrixSize = outputChannels * rows
    guard batch > 0 else { return Tensor(zeros: [outputChannels, rows]) }

    // Each run of images accumulates its own partial sum; the partials are added at the end.
    let chunkCount = convolutionChunkCount(batch: batch)
    let partials = Tensor<Scalar>(shape: [chunkCount, outputChannels, rows]) { output in
        x.withUnsafeBufferPointer { xBuffer in
            dy.withUnsafeBufferPointer { dyBuffer in
                let (images, cotangents, result) = (xBuffer.baseAddress!, dyBuffer.baseAddress!, output.baseAddress!)
                forEachBatchChunk(batch: batch, chunkCount: chunkCount) { chunk, range in
                    let scratch = isPointwise(g) ? nil : UnsafeMutablePointer<Scalar>.allocate(capacity: rows * positions)
                    defer { scratch?.deallocate() }
                    for n in range {
                        let image = images + n * g.imageSize
                        if let scratch { Scalar.im2col(image, scratch, geometry: g) }
                        Scalar.gemm(
                            transposeA: false, transposeB: true, m: outputChannels, n: rows, k: positions,
                            alpha: 1, a: cotangents + n * outputChannels * positions, lda: positions,
                            b: scratch.map { UnsafePointer($0) } ?? image, ldb: positions,
                            beta: n == range.lowerBound ? 0 : 1, c: result + chunk * matrixSize, ldc: rows)
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
