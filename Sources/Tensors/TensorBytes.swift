import Foundation

// Weight files store little-endian scalars, and the code below moves them with plain
// memory copies, which is only correct on a little-endian host.
#if !_endian(little)
#error("Weight files are read and written by copying memory, which assumes a little-endian host")
#endif

/// A tensor of `Float` or `Double` whose scalar type is known only at run time, for
/// writing files that mix dtypes.
public enum AnyTensor: Sendable {
    case float(Tensor<Float>)
    case double(Tensor<Double>)

    /// Wraps a tensor of either scalar type.
    public init<Scalar: TensorScalar>(_ tensor: Tensor<Scalar>) {
        if let float = tensor as? Tensor<Float> {
            self = .float(float)
        } else if let double = tensor as? Tensor<Double> {
            self = .double(double)
        } else {
            preconditionFailure("AnyTensor holds Float or Double tensors, not Tensor<\(Scalar.self)>")
        }
    }

    public var shape: [Int] {
        switch self {
        case let .float(tensor): return tensor.shape
        case let .double(tensor): return tensor.shape
        }
    }

    /// The safetensors dtype name: `F32` or `F64`.
    public var dtypeName: String {
        switch self {
        case .float: return Float.dtypeName
        case .double: return Double.dtypeName
        }
    }

    /// The size of one element in bytes.
    var elementByteCount: Int {
        switch self {
        case .float: return MemoryLayout<Float>.size
        case .double: return MemoryLayout<Double>.size
        }
    }

    /// Appends the elements in row-major order as little-endian bytes.
    func appendBytes(to data: inout Data) {
        switch self {
        case let .float(tensor): tensor.withUnsafeBufferPointer { data.append($0) }
        case let .double(tensor): tensor.withUnsafeBufferPointer { data.append($0) }
        }
    }
}

extension Tensor {
    /// Creates a tensor by copying little-endian scalars; `bytes.count` must match the shape.
    init(shape: [Int], littleEndianBytes bytes: UnsafeRawBufferPointer) {
        precondition(
            bytes.count == shape.reduce(1, *) * MemoryLayout<Scalar>.size,
            "\(bytes.count) bytes do not hold a Tensor<\(Scalar.self)> of shape \(shape)")
        self.init(shape: shape) { output in
            UnsafeMutableRawBufferPointer(output).copyMemory(from: bytes)
        }
    }
}

/// Returns the element count of a shape read from a file, or nil if an extent is negative
/// or if the product of the non-zero extents overflows `Int`.
///
/// Skipping zeros matters because tensor code multiplies partial products of the shape,
/// such as strides, which must not overflow even when another extent is zero.
func elementCount(ofStoredShape shape: [Int]) -> Int? {
    var nonZeroProduct = 1
    for extent in shape {
        guard extent >= 0 else { return nil }
        let (product, overflow) = nonZeroProduct.multipliedReportingOverflow(by: Swift.max(extent, 1))
        guard !overflow else { return nil }
        nonZeroProduct = product
    }
    return shape.contains(0) ? 0 : nonZeroProduct
}

/// Creates a `Tensor<Requested>` from the little-endian bytes of a tensor stored as
/// `F32` or `F64`.
///
/// When the stored dtype differs from `Requested`, the bytes are converted only if
/// `convertingDtype` is true: `F64` to `Float` rounds to nearest, `F32` to `Double` is
/// exact. Otherwise a `dtypeMismatch` error names the file and the tensor.
func decodeTensor<Requested: TensorScalar>(
    _ type: Requested.Type, storedDtype: String, shape: [Int], bytes: UnsafeRawBufferPointer,
    convertingDtype: Bool, file: String, tensor: String
) throws -> Tensor<Requested> {
    if storedDtype == Requested.dtypeName {
        return Tensor<Requested>(shape: shape, littleEndianBytes: bytes)
    }
    guard storedDtype == Float.dtypeName || storedDtype == Double.dtypeName else {
        throw WeightFileError.unsupportedDtype(file: file, tensor: tensor, dtype: storedDtype)
    }
    guard convertingDtype else {
        throw WeightFileError.dtypeMismatch(file: file, tensor: tensor, stored: storedDtype, requested: Requested.dtypeName)
    }

    let converted: AnyTensor
    if storedDtype == Double.dtypeName {
        converted = .float(Tensor<Float>(Tensor<Double>(shape: shape, littleEndianBytes: bytes)))
    } else {
        converted = .double(Tensor<Double>(Tensor<Float>(shape: shape, littleEndianBytes: bytes)))
    }
    switch converted {
    case let .float(tensor): return tensor as! Tensor<Requested>
    case let .double(tensor): return tensor as! Tensor<Requested>
    }
}
