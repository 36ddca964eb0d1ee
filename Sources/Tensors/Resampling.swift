// Average pooling and nearest-neighbour upsampling of NCHW images, each the other's
// adjoint up to a factor: the pullback of one is the other.

/// Returns the mean of each non-overlapping `kernelSize × kernelSize` block of an image
/// `[N, C, H, W]`, giving `[N, C, H / kernelSize, W / kernelSize]` (window = stride).
public func avgPool2d<Scalar>(_ x: Tensor<Scalar>, kernelSize: Int) -> Tensor<Scalar> {
    precondition(x.rank == 4, "avgPool2d: input of shape \(x.shape) must be [N, C, H, W]")
    precondition(kernelSize >= 1, "avgPool2d: kernelSize \(kernelSize) must be at least 1")
    precondition(
        x.shape[2] % kernelSize == 0 && x.shape[3] % kernelSize == 0,
        "avgPool2d: height and width of input \(x.shape) must be multiples of kernelSize \(kernelSize)")
    return sumPool(x, window: kernelSize, scale: 1 / Scalar(kernelSize * kernelSize))
}

/// Returns an image `[N, C, H, W]` with each pixel repeated into a `factor × factor`
/// block, giving `[N, C, H · factor, W · factor]`.
public func upsampleNearest2d<Scalar>(_ x: Tensor<Scalar>, factor: Int) -> Tensor<Scalar> {
    precondition(x.rank == 4, "upsampleNearest2d: input of shape \(x.shape) must be [N, C, H, W]")
    precondition(factor >= 1, "upsampleNearest2d: factor \(factor) must be at least 1")
    return upsample(x, factor: factor, scale: 1)
}

/// Differentiable `avgPool2d`; the pullback spreads each cotangent evenly over its block.
public func avgPool2d<Scalar>(_ x: Variable<Scalar>, kernelSize: Int) -> Variable<Scalar> {
    Variable(value: avgPool2d(x.value, kernelSize: kernelSize), parents: [x]) { dy in
        [upsample(dy, factor: kernelSize, scale: 1 / Scalar(kernelSize * kernelSize))]
    }
}

/// Differentiable `upsampleNearest2d`; the pullback sums the cotangent over each block.
public func upsampleNearest2d<Scalar>(_ x: Variable<Scalar>, factor: Int) -> Variable<Scalar> {
    Variable(value: upsampleNearest2d(x.value, factor: factor), parents: [x]) { dy in
        [sumPool(dy, window: factor, scale: 1)]
    }
}

/// Returns `scale` times the sum of each `window × window` block.
func sumPool<Scalar>(_ x: Tensor<Scalar>, window: Int, scale: Scalar) -> Tensor<Scalar> {
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let planes = batch * channels
    let outputPlane = (height / window) * (width / window)
    return Tensor(shape: [batch, channels, height / window, width / window]) { output in
        x.withUnsafeBufferPointer { input in
            let (source, destination) = (input.baseAddress!, output.baseAddress!)
            parallelChunks(planes, minimumChunk: Swift.max(1, (1 << 16) / Swift.max(height * width, 1))) { range in
                Scalar.sumPool2d(
                    source + range.lowerBound * height * width, destination + range.lowerBound * outputPlane,
                    planes: range.count, height: height, width: width, window: window, scale: scale)
            }
        }
    }
}

/// Returns `scale` times each pixel repeated into a `factor × factor` block.
func upsample<Scalar>(_ x: Tensor<Scalar>, factor: Int, scale: Scalar) -> Tensor<Scalar> {
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let planes = batch * channels
    let outputPlane = height * factor * width * factor
    return Tensor(shape: [batch, channels, height * factor, width * factor]) { output in
        x.withUnsafeBufferPointer { input in
            let (source, destination) = (input.baseAddress!, output.baseAddress!)
            parallelChunks(planes, minimumChunk: Swift.max(1, (1 << 16) / Swift.max(outputPlane, 1))) { range in
                Scalar.upsampleNearest2d(
                    source + range.lowerBound * height * width, destination + range.lowerBound * outputPlane,
                    planes: range.count, height: height, width: width, factor: factor, scale: scale)
            }
        }
    }
}

@inline(__always)
func sumPoolKernel<T: TensorScalar>(
    _ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>,
    planes: Int, height: Int, width: Int, window: Int, scale: T
) {
    let (outputHeight, outputWidth) = (height / window, width / window)
    for plane in 0..<planes {
        let source = input + plane * height * width
        let destination = output + plane * outputHeight * outputWidth
        for oy in 0..<outputHeight {
            let outputRow = destination + oy * outputWidth
            for ox in 0..<outputWidth { outputRow[ox] = 0 }
            for ky in 0..<window {
                let inputRow = source + (oy * window + ky) * width
                for ox in 0..<outputWidth {
                    var sum: T = 0
                    for kx in 0..<window { sum += inputRow[ox * window + kx] }
                    outputRow[ox] += sum
                }
            }
            for ox in 0..<outputWidth { outputRow[ox] *= scale }
        }
    }
}

@inline(__always)
func upsampleNearestKernel<T: TensorScalar>(
    _ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>,
    planes: Int, height: Int, width: Int, factor: Int, scale: T
) {
    let outputWidth = width * factor
    for plane in 0..<planes {
        let source = input + plane * height * width
        let destination = output + plane * height * factor * outputWidth
        for iy in 0..<height {
            // Write the first of the `factor` output rows, then copy it.
            let firstRow = destination + iy * factor * outputWidth
            let inputRow = source + iy * width
            for ix in 0..<width {
                let value = scale * inputRow[ix]
                for fx in 0..<factor { firstRow[ix * factor + fx] = value }
            }
            for fy in 1..<Swift.max(factor, 1) {
                let row = firstRow + fy * outputWidth
                for ox in 0..<outputWidth { row[ox] = firstRow[ox] }
            }
        }
    }
}
