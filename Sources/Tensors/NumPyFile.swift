import Foundation

/// NumPy `.npy` files of one `Float` or `Double` array.
///
/// The format (numpy.lib.format) starts with the magic bytes `\x93NUMPY`, a major and a
/// minor version byte, and the header length: a little-endian `UInt16` in version 1.0, a
/// `UInt32` in versions 2.0 and 3.0. The header is a Python dict literal such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`, padded with spaces and
/// ended by `\n` so that the raw data after it start at a multiple of 64 bytes.
///
/// Writing produces version 1.0 with dtype `<f4` or `<f8` in C order. Reading accepts versions 1.0 to 3.0, the
/// dtypes `f4` and `f8` in either byte order, and C or Fortran order. Malformed input
/// throws a `WeightFileError`. Dtype mismatches follow the rule of `SafeTensorsFile`:
/// they throw `dtypeMismatch` unless the call passes `convertingDtype: true`.
public enum NumPyFile {
    private static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
    private static let alignment = 64

    /// Encodes `tensor` as `.npy` version 1.0 bytes.
    public static func encode<Scalar: TensorScalar>(_ tensor: Tensor<Scalar>) -> Data {
        let anyTensor = AnyTensor(tensor)
        let descr = anyTensor.elementByteCount == 4 ? "<f4" : "<f8"
        let shape: String
        switch tensor.rank {
        case 0: shape = "()"
        case 1: shape = "(\(tensor.shape[0]),)"
        default: shape = "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        }
        var header = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }".utf8)
        let preambleCount = magic.count + 4 + header.count + 1
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (alignment - preambleCount % alignment) % alignment))
        header.append(UInt8(ascii: "\n"))
        precondition(
            header.count <= Int(UInt16.max),
            "A tensor of rank \(tensor.rank) needs a .npy header of \(header.count) bytes, more than version 1.0 allows (NumPy 2 reads at most 64 dimensions)")

        var data = Data(magic + [1, 0])
        withUnsafeBytes(of: UInt16(header.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: header)
        anyTensor.appendBytes(to: &data)
        return data
    }

    /// Writes `tensor` to `url` as `.npy` version 1.0 with `writeAtomically(_:to:)`.
    public static func write<Scalar: TensorScalar>(_ tensor: Tensor<Scalar>, to url: URL) throws {
        try writeAtomically(encode(tensor), to: url)
    }

    /// Reads the `.npy` file at `url` as a tensor of `Scalar`.
    public static func read<Scalar: TensorScalar>(
        _ type: Scalar.Type = Scalar.self, from url: URL, convertingDtype: Bool = false
    ) throws -> Tensor<Scalar> {
        let contents: Data
        do {
            contents = try Data(contentsOf: url)
        } catch {
            throw WeightFileError.readFailed(file: url.path, reason: error.localizedDescription)
        }
        return try decode(Scalar.self, from: contents, source: url.path, convertingDtype: convertingDtype)
    }

    /// Decodes `.npy` bytes as a tensor of `Scalar`; `source` labels error messages.
    public static func decode<Scalar: TensorScalar>(
        _ type: Scalar.Type = Scalar.self, from data: Data, source: String = "npy data",
        convertingDtype: Bool = false
    ) throws -> Tensor<Scalar> {
        try data.withUnsafeBytes { bytes in
            let (header, dataStart) = try parsePreamble(bytes, file: source)
            let dtype = header.elementByteCount == 4 ? Float.dtypeName : Double.dtypeName

            guard let elementCount = elementCount(ofStoredShape: header.shape) else {
                throw WeightFileError.invalidShape(file: source, tensor: "", shape: header.shape)
            }
            let (byteCount, overflow) = elementCount.multipliedReportingOverflow(by: header.elementByteCount)
            guard !overflow else { throw WeightFileError.invalidShape(file: source, tensor: "", shape: header.shape) }
            let available = bytes.count - dataStart
            guard available >= byteCount else {
                throw WeightFileError.truncated(
                    file: source, reason: "shape \(header.shape) of \(dtype) needs \(byteCount) data bytes but \(available) follow the header")
            }
            guard available == byteCount else {
                throw WeightFileError.invalidHeader(
                    file: source, reason: "\(available - byteCount) bytes follow the \(byteCount) data bytes of shape \(header.shape)")
            }

            // Fortran order stores the array column-major, which is the row-major layout
            // of the reversed shape; reversing the axes afterwards restores the shape.
            let storedShape = header.isFortranOrder ? Array(header.shape.reversed()) : header.shape
            var tensor: Tensor<Scalar>
            let payload = UnsafeRawBufferPointer(rebasing: bytes[dataStart...])
            if header.isBigEndian {
                let swapped = byteSwapped(payload, elementByteCount: header.elementByteCount)
                tensor = try swapped.withUnsafeBytes {
                    try decodeTensor(
                        Scalar.self, storedDtype: dtype, shape: storedShape, bytes: $0,
                        convertingDtype: convertingDtype, file: source, tensor: "")
                }
            } else {
                tensor = try decodeTensor(
                    Scalar.self, storedDtype: dtype, shape: storedShape, bytes: payload,
                    convertingDtype: convertingDtype, file: source, tensor: "")
            }
            if header.isFortranOrder && tensor.rank > 1 {
                tensor = tensor.transposed(permutation: Array((0..<tensor.rank).reversed()))
            }
            return tensor
        }
    }

    /// Checks the magic bytes and version, and parses the header dict; returns the header
    /// and the offset of the first data byte.
    private static func parsePreamble(_ bytes: UnsafeRawBufferPointer, file: String) throws -> (NumPyHeader, Int) {
        guard bytes.count >= magic.count + 4 else {
            throw WeightFileError.truncated(file: file, reason: "\(bytes.count) bytes, fewer than the 10-byte .npy preamble")
        }
        guard bytes.prefix(magic.count).elementsEqual(magic) else {
            throw WeightFileError.invalidHeader(file: file, reason: "missing the magic bytes \\x93NUMPY; not a .npy file")
        }
        let major = bytes[6]
        let minor = bytes[7]
        let headerStart: Int
        let headerLength: Int
        switch major {
        case 1:
            headerStart = 10
            headerLength = Int(UInt16(bytes[8]) | UInt16(bytes[9]) << 8)
        case 2, 3:
            guard bytes.count >= 12 else {
                throw WeightFileError.truncated(file: file, reason: "\(bytes.count) bytes, fewer than the 12-byte version \(major).0 preamble")
            }
            headerStart = 12
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        default:
            throw WeightFileError.invalidHeader(file: file, reason: "unsupported .npy version \(major).\(minor); versions 1.0 to 3.0 are supported")
        }
        guard headerStart + headerLength <= bytes.count else {
            throw WeightFileError.truncated(
                file: file, reason: "the header length field declares \(headerLength) header bytes but only \(bytes.count - headerStart) follow it")
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[headerStart..<headerStart + headerLength])
        return (try NumPyHeader(parsing: headerBytes, file: file), headerStart + headerLength)
    }

    private static func byteSwapped(_ bytes: UnsafeRawBufferPointer, elementByteCount: Int) -> [UInt8] {
        var swapped = [UInt8](bytes)
        for start in stride(from: 0, to: swapped.count, by: elementByteCount) {
            swapped[start..<start + elementByteCount].reverse()
        }
        return swapped
    }
}
