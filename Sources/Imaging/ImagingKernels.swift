import Tensors

// Element loops of the image operators. Generic code in this module is not specialised
// when another module calls it. So each loop is a generic `@inline(__always)` kernel that
// the dispatching function calls with the concrete type, `Float` or `Double`, which costs
// one type test per operation, never one per element.

extension UnsafePointer {
    @inline(__always)
    func rebound<T>(to type: T.Type) -> UnsafePointer<T> {
        UnsafeRawPointer(self).assumingMemoryBound(to: T.self)
    }
}

extension UnsafeMutablePointer {
    @inline(__always)
    func rebound<T>(to type: T.Type) -> UnsafeMutablePointer<T> {
        UnsafeMutableRawPointer(self).assumingMemoryBound(to: T.self)
    }
}

/// Column index lists for `gatherColumns` and `scatterColumns`: `rows` lists of `count`
/// indices each, one list per batch element or (`rows == 1`) one shared list.
struct ColumnIndices: Sendable {
    var rows: Int
    var count: Int
    var indices: [Int32]

    init(rows: Int, count: Int, indices: [Int32]) {
        precondition(indices.count == rows * count, "ColumnIndices: \(indices.count) indices for \(rows) lists of \(count)")
        self.rows = rows
        self.count = count
        self.indices = indices
    }

    /// Returns the first `prefix` indices of every list.
    func prefix(_ prefix: Int) -> ColumnIndices {
        precondition(prefix <= count, "ColumnIndices: prefix \(prefix) exceeds the list length \(count)")
        var kept: [Int32] = []
        kept.reserveCapacity(rows * prefix)
        for row in 0..<rows {
            kept.append(contentsOf: indices[(row * count)..<(row * count + prefix)])
        }
        return ColumnIndices(rows: rows, count: prefix, indices: kept)
    }
}

/// Returns `output[b, j] = input[b, index[b, j]]` for `input` viewed as `[N, L]`; a shared
/// list (`rows == 1`) serves every batch element.
func gatherColumns<Scalar: TensorScalar>(_ input: Tensor<Scalar>, _ columns: ColumnIndices) -> Tensor<Scalar> {
    let batch = input.shape[0]
    let length = input.scalarCount / Swift.max(batch, 1)
    precondition(
        columns.rows == 1 || columns.rows == batch,
        "gatherColumns: \(columns.rows) index lists for a batch of \(batch)")
    return Tensor(shape: [batch, columns.count]) { output in
        input.withUnsafeBufferPointer { source in
            columns.indices.withUnsafeBufferPointer { indices in
                let (x, y, index) = (source.baseAddress!, output.baseAddress!, indices.baseAddress!)
                if Scalar.self == Float.self {
                    gatherKernel(x.rebound(to: Float.self), y.rebound(to: Float.self), index, batch, length, columns)
                } else {
                    gatherKernel(x.rebound(to: Double.self), y.rebound(to: Double.self), index, batch, length, columns)
                }
            }
        }
    }
}

/// Returns the adjoint of `gatherColumns`: a zero `[N, length]` tensor with
/// `output[b, index[b, j]] = input[b, j]`. The indices of one list must be distinct.
func scatterColumns<Scalar: TensorScalar>(_ input: Tensor<Scalar>, _ columns: ColumnIndices, length: Int) -> Tensor<Scalar> {
    let batch = input.shape[0]
    precondition(
        input.scalarCount == batch * columns.count,
        "scatterColumns: input of shape \(input.shape) does not hold \(columns.count) columns per batch element")
    precondition(
        columns.rows == 1 || columns.rows == batch,
        "scatterColumns: \(columns.rows) index lists for a batch of \(batch)")
    var output = Tensor<Scalar>(zeros: [batch, length])
    output.withUnsafeMutableBufferPointer { destination in
        input.withUnsafeBufferPointer { source in
            columns.indices.withUnsafeBufferPointer { indices in
                let (x, y, index) = (source.baseAddress!, destination.baseAddress!, indices.baseAddress!)
                if Scalar.self == Float.self {
                    scatterKernel(x.rebound(to: Float.self), y.rebound(to: Float.self), index, batch, length, columns)
                } else {
                    scatterKernel(x.rebound(to: Double.self), y.rebound(to: Double.self), index, batch, length, columns)
                }
            }
        }
    }
    return output
}

@inline(__always)
private func gatherKernel<T>(
    _ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>, _ index: UnsafePointer<Int32>,
    _ batch: Int, _ length: Int, _ columns: ColumnIndices
) {
    let count = columns.count
    for b in 0..<batch {
        let list = index + (columns.rows == 1 ? 0 : b * count)
        let (source, destination) = (input + b * length, output + b * count)
        for j in 0..<count { destination[j] = source[Int(list[j])] }
    }
}

@inline(__always)
private func scatterKernel<T>(
    _ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>, _ index: UnsafePointer<Int32>,
    _ batch: Int, _ length: Int, _ columns: ColumnIndices
) {
    let count = columns.count
    for b in 0..<batch {
        let list = index + (columns.rows == 1 ? 0 : b * count)
        let (source, destination) = (input + b * count, output + b * length)
        for j in 0..<count { destination[Int(list[j])] = source[j] }
    }
}

/// Converts bytes to scalars `scale · byte + offset`, the loop of the data loaders.
func convertBytes<Scalar: TensorScalar>(
    _ bytes: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<Scalar>, scale: Double, offset: Double
) {
    precondition(bytes.count == output.count, "convertBytes: \(bytes.count) bytes for \(output.count) scalars")
    if Scalar.self == Float.self {
        convertKernel(bytes, output.baseAddress!.rebound(to: Float.self), Float(scale), Float(offset))
    } else {
        convertKernel(bytes, output.baseAddress!.rebound(to: Double.self), scale, offset)
    }
}

@inline(__always)
private func convertKernel<T: BinaryFloatingPoint>(_ bytes: UnsafeBufferPointer<UInt8>, _ output: UnsafeMutablePointer<T>, _ scale: T, _ offset: T) {
    for i in 0..<bytes.count { output[i] = scale * T(bytes[i]) + offset }
}

/// Returns the elements of `tensor` as Doubles, for metrics and file encoders that work in Double.
func doubleScalars<Scalar: TensorScalar>(_ tensor: Tensor<Scalar>) -> [Double] {
    tensor.withUnsafeBufferPointer { buffer in
        if Scalar.self == Double.self {
            return Array(UnsafeBufferPointer(start: buffer.baseAddress!.rebound(to: Double.self), count: buffer.count))
        }
        let floats = UnsafeBufferPointer(start: buffer.baseAddress!.rebound(to: Float.self), count: buffer.count)
        return floats.map(Double.init)
    }
}
