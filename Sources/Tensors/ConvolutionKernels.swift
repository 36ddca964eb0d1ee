// The im2col and col2im loops behind convolution, specialised per scalar type through
// the `TensorScalar` requirements of the same names.

/// The sizes of one convolution: an image, a filter window and the grid of positions the
/// window visits.
///
/// Window position `(oy, ox)` with filter tap `(ki, kj)` reads the image pixel
/// `(oy · stride − padding + ki, ox · stride − padding + kj)`, or zero when that lies in
/// the padding.
public struct ConvolutionGeometry: Sendable, Equatable {
    public var channels: Int
    public var height: Int
    public var width: Int
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var stride: Int
    public var padding: Int
    public var outputHeight: Int
    public var outputWidth: Int

    /// Creates the geometry of a convolution of a `height × width` image, with the output size
    /// `(height + 2 · padding − kernelHeight) / stride + 1` (and likewise for the width).
    public init(channels: Int, height: Int, width: Int, kernelHeight: Int, kernelWidth: Int, stride: Int, padding: Int) {
        self.channels = channels
        self.height = height
        self.width = width
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.stride = stride
        self.padding = padding
        outputHeight = (height + 2 * padding - kernelHeight) / stride + 1
        outputWidth = (width + 2 * padding - kernelWidth) / stride + 1
    }

    /// The rows of the column matrix: `channels · kernelHeight · kernelWidth`.
    public var columnRows: Int { channels * kernelHeight * kernelWidth }
    /// The columns of the column matrix, one per window position: `outputHeight · outputWidth`.
    public var positions: Int { outputHeight * outputWidth }
    /// The elements of one image: `channels · height · width`.
    public var imageSize: Int { channels * height * width }
}

/// Returns the output positions `lower..<upper` (within `0..<count`) whose input index
/// `position · stride + offset` lies in `0..<extent`.
@inline(__always)
func validPositions(offset: Int, extent: Int, stride: Int, count: Int) -> Range<Int> {
    let lower = offset >= 0 ? 0 : Swift.min((-offset + stride - 1) / stride, count)
    let upper = extent - offset <= 0 ? 0 : Swift.min((extent - offset + stride - 1) / stride, count)
    return lower..<Swift.max(lower, upper)
}

/// Writes row `(c, ki, kj)`, column `(oy, ox)` of the column matrix as the pixel that
/// filter tap `(ki, kj)` meets at window position `(oy, ox)`, or zero in the padding.
/// Consecutive rows start `leadingDimension` elements apart (at least `g.positions`), so
/// that several images can fill adjacent column blocks of one matrix.
@inline(__always)
func im2colKernel<T: TensorScalar>(
    _ image: UnsafePointer<T>, _ columns: UnsafeMutablePointer<T>, _ g: ConvolutionGeometry, leadingDimension: Int
) {
    let (height, width, stride) = (g.height, g.width, g.stride)
    let (outputHeight, outputWidth) = (g.outputHeight, g.outputWidth)
    var row = columns
    for channel in 0..<g.channels {
        let plane = image + channel * height * width
        for ki in 0..<g.kernelHeight {
            let rows = validPositions(offset: ki - g.padding, extent: height, stride: stride, count: outputHeight)
            for kj in 0..<g.kernelWidth {
                let columnOffset = kj - g.padding
                let valid = validPositions(offset: columnOffset, extent: width, stride: stride, count: outputWidth)
                if stride == 1 && outputWidth == width && !rows.isEmpty && !valid.isEmpty {
                    im2colShiftedCopy(plane, row, g, rows: rows, valid: valid, shift: (ki - g.padding) * width + columnOffset)
                } else {
                    for oy in 0..<outputHeight {
                        let output = row + oy * outputWidth
                        guard rows.contains(oy) else {
                            output.update(repeating: 0, count: outputWidth)
                            continue
                        }
                        let input = plane + (oy * stride - g.padding + ki) * width + columnOffset
                        zeroShortRun(output, count: valid.lowerBound)
                        if stride == 1 {
                            (output + valid.lowerBound).update(from: input + valid.lowerBound, count: valid.count)
                        } else {
                            let (source, destination) = (input + valid.lowerBound * stride, output + valid.lowerBound)
                            for i in 0..<valid.count { destination[i] = source[i &* stride] }
                        }
                        zeroShortRun(output + valid.upperBound, count: outputWidth - valid.upperBound)
                    }
                }
                row += leadingDimension
            }
        }
    }
}

/// Writes one row of the column matrix when the stride is 1 and the output is as wide as
/// the image ("same" padding along the width). Then row `oy` of the window positions is
/// the image shifted by `shift` elements, so the valid rows are one contiguous copy, after
/// which the border columns, which wrapped around from the neighbouring image rows, are
/// zeroed.
@inline(__always)
func im2colShiftedCopy<T: TensorScalar>(
    _ plane: UnsafePointer<T>, _ row: UnsafeMutablePointer<T>, _ g: ConvolutionGeometry,
    rows: Range<Int>, valid: Range<Int>, shift: Int
) {
    let width = g.outputWidth
    row.update(repeating: 0, count: rows.lowerBound * width)
    let first = rows.lowerBound * width + valid.lowerBound
    let last = (rows.upperBound - 1) * width + valid.upperBound
    (row + first).update(from: plane + first + shift, count: last - first)
    let (left, right) = (valid.lowerBound, width - valid.upperBound)
    if left > 0 || right > 0 {
        for oy in rows {
            let output = row + oy * width
            zeroShortRun(output, count: left)
            zeroShortRun(output + valid.upperBound, count: right)
        }
    }
    (row + rows.upperBound * width).update(repeating: 0, count: (g.outputHeight - rows.upperBound) * width)
}

/// Sets `count` elements to zero. The border runs of the column matrix are usually one
/// element long (a 3×3 window with padding 1), where a store costs far less than the
/// `memset` call that `update(repeating:count:)` makes.
@inline(__always)
func zeroShortRun<T: TensorScalar>(_ start: UnsafeMutablePointer<T>, count: Int) {
    if count == 1 {
        start[0] = 0
    } else if count > 1 {
        start.update(repeating: 0, count: count)
    }
}

/// Zeroes the image, then adds every entry of the column matrix, whose rows start
/// `leadingDimension` elements apart, to the pixel it was read from by `im2colKernel`.
/// Entries that fall in the padding are dropped.
@inline(__always)
func col2imKernel<T: TensorScalar>(
    _ columns: UnsafePointer<T>, _ image: UnsafeMutablePointer<T>, _ g: ConvolutionGeometry, leadingDimension: Int
) {
    let (height, width, stride) = (g.height, g.width, g.stride)
    let (outputHeight, outputWidth) = (g.outputHeight, g.outputWidth)
    image.update(repeating: 0, count: g.imageSize)

    var row = columns
    for channel in 0..<g.channels {
        let plane = image + channel * height * width
        for ki in 0..<g.kernelHeight {
            let rows = validPositions(offset: ki - g.padding, extent: height, stride: stride, count: outputHeight)
            for kj in 0..<g.kernelWidth {
                let columnOffset = kj - g.padding
                let valid = validPositions(offset: columnOffset, extent: width, stride: stride, count: outputWidth)
                let count = valid.count
                for oy in rows {
                    // Pointers to the first valid entry, so the inner loops index from 0
                    // without overflow checks and vectorise.
                    let input = row + oy * outputWidth + valid.lowerBound
                    let output = plane + (oy * stride - g.padding + ki) * width + valid.lowerBound * stride + columnOffset
                    if stride == 1 {
                        for i in 0..<count { output[i] += input[i] }
                    } else {
                        for i in 0..<count { output[i &* stride] += input[i] }
                    }
                }
                row += leadingDimension
            }
        }
    }
}
