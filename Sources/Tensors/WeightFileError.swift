/// An error from reading or writing a safetensors or NumPy `.npy` file.
///
/// Every case names the file (its path, or the `source` label given for data in memory).
/// Cases about one tensor also name the tensor. The name is empty for `.npy` files, which
/// hold a single unnamed array.
public enum WeightFileError: Error, Equatable, Sendable {
    /// The file could not be read from disk.
    case readFailed(file: String, reason: String)
    /// The file ends before a part that its own header declares.
    case truncated(file: String, reason: String)
    /// The declared safetensors header length exceeds the accepted maximum.
    case headerTooLarge(file: String, headerLength: UInt64, limit: Int)
    /// The header is not valid: bad magic bytes, bad UTF-8, invalid JSON, or a value of the wrong type.
    case invalidHeader(file: String, reason: String)
    /// A dtype that the format does not define.
    case unknownDtype(file: String, tensor: String, dtype: String)
    /// A dtype that the format defines but that cannot be read into `Float` or `Double`.
    case unsupportedDtype(file: String, tensor: String, dtype: String)
    /// The stored dtype differs from the requested scalar type and conversion was not requested.
    case dtypeMismatch(file: String, tensor: String, stored: String, requested: String)
    /// A shape with a negative extent, or whose element count overflows `Int`.
    case invalidShape(file: String, tensor: String, shape: [Int])
    /// The data offsets are not two integers `[begin, end]` with `0 ≤ begin ≤ end`.
    case invalidOffsets(file: String, tensor: String, offsets: [Int])
    /// The byte length `end - begin` of the data offsets differs from what dtype and shape require.
    case offsetsMismatch(file: String, tensor: String, dtype: String, shape: [Int], offsets: [Int], expectedByteCount: Int)
    /// The data of two tensors overlap.
    case overlappingOffsets(file: String, tensor: String, otherTensor: String)
    /// The data offsets reach past the end of the byte buffer.
    case offsetsOutOfRange(file: String, tensor: String, offsets: [Int], bufferByteCount: Int)
    /// Part of the byte buffer belongs to no tensor; the format requires that tensors cover the buffer.
    case uncoveredBytes(file: String, range: Range<Int>)
    /// The file has no tensor of the requested name.
    case missingTensor(file: String, tensor: String, available: [String])
    /// The stored shape differs from the expected shape.
    case shapeMismatch(file: String, tensor: String, expected: [Int], actual: [Int])
    /// A tensor name that the format reserves (`__metadata__`), or that appears twice.
    case invalidTensorName(file: String, tensor: String, reason: String)
}

extension WeightFileError: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .readFailed(file, reason):
            return "\(file): read failed: \(reason)"
        case let .truncated(file, reason):
            return "\(file): file is truncated: \(reason)"
        case let .headerTooLarge(file, headerLength, limit):
            return "\(file): header length \(headerLength) bytes exceeds the limit of \(limit) bytes; the file is corrupt or not a safetensors file"
        case let .invalidHeader(file, reason):
            return "\(file): invalid header: \(reason)"
        case let .unknownDtype(file, tensor, dtype):
            return "\(Self.location(file, tensor)): unknown dtype '\(dtype)'"
        case let .unsupportedDtype(file, tensor, dtype):
            return "\(Self.location(file, tensor)): dtype '\(dtype)' cannot be read; only F32 and F64 (NumPy '<f4' and '<f8') are supported"
        case let .dtypeMismatch(file, tensor, stored, requested):
            return "\(Self.location(file, tensor)): stored dtype is \(stored) but \(requested) was requested; read it as the stored type or pass convertingDtype: true"
        case let .invalidShape(file, tensor, shape):
            return "\(Self.location(file, tensor)): invalid shape \(shape): extents must be non-negative and their product must fit in Int"
        case let .invalidOffsets(file, tensor, offsets):
            return "\(Self.location(file, tensor)): invalid data_offsets \(offsets): expected [begin, end] with 0 <= begin <= end"
        case let .offsetsMismatch(file, tensor, dtype, shape, offsets, expectedByteCount):
            return "\(Self.location(file, tensor)): data_offsets \(offsets) span \(offsets[1] - offsets[0]) bytes but dtype \(dtype) with shape \(shape) needs \(expectedByteCount) bytes"
        case let .overlappingOffsets(file, tensor, otherTensor):
            return "\(Self.location(file, tensor)): data overlaps the data of tensor '\(otherTensor)'"
        case let .offsetsOutOfRange(file, tensor, offsets, bufferByteCount):
            return "\(Self.location(file, tensor)): data_offsets \(offsets) reach past the end of the \(bufferByteCount)-byte data buffer"
        case let .uncoveredBytes(file, range):
            return "\(file): bytes \(range.lowerBound)..<\(range.upperBound) of the data buffer belong to no tensor"
        case let .missingTensor(file, tensor, available):
            let shown = available.prefix(20).map { "'\($0)'" }.joined(separator: ", ")
            return "\(file): no tensor named '\(tensor)'; the file has \(available.count) tensors: [\(shown)\(available.count > 20 ? ", …" : "")]"
        case let .shapeMismatch(file, tensor, expected, actual):
            return "\(Self.location(file, tensor)): stored shape \(actual) differs from the expected shape \(expected)"
        case let .invalidTensorName(file, tensor, reason):
            return "\(file): invalid tensor name '\(tensor)': \(reason)"
        }
    }

    private static func location(_ file: String, _ tensor: String) -> String {
        tensor.isEmpty ? file : "\(file): tensor '\(tensor)'"
    }
}
