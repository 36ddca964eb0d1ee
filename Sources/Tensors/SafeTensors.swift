import Foundation

/// A safetensors file: named tensors, each with a dtype and a shape, and string metadata.
///
/// The format (https://github.com/huggingface/safetensors) is an 8-byte little-endian
/// `UInt64` N, then N bytes of UTF-8 JSON, then the data buffer. The JSON maps each
/// tensor name to `{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}`, and
/// the optional key `"__metadata__"` to an object of strings. Offsets count bytes from
/// the start of the data buffer. Each tensor's data are row-major and little-endian, and
/// together the tensors cover the buffer with no overlap and no gap.
///
/// Opening a file checks all of these rules. A violation throws a `WeightFileError` that
/// names the file, the tensor and the problem, so malformed input is reported, not trapped on.
/// Tensors are then read by name:
///
///     let file = try SafeTensorsFile(contentsOf: url)
///     let weight = try file.tensor("dense.weight", as: Float.self, shape: [64, 32])
///
/// Writing replaces the file atomically (see `writeAtomically(_:to:)`):
///
///     try SafeTensorsFile.write(["dense.weight": weight], metadata: ["step": "100"], to: url)
///
/// Dtypes: a tensor is read as the requested scalar type. If the stored dtype differs
/// (`F64` stored, `Float` requested), reading throws `WeightFileError.dtypeMismatch`
/// unless the call passes `convertingDtype: true`, which rounds `F64` to the nearest
/// `Float` or widens `F32` to `Double` exactly. Dtypes other than `F32` and `F64` are
/// accepted when the file is opened but throw `unsupportedDtype` when read.
public struct SafeTensorsFile: Sendable {
    /// The header entry of one tensor.
    public struct TensorInfo: Equatable, Sendable {
        /// The dtype name as written in the header, such as `F32`.
        public var dtype: String
        public var shape: [Int]
        /// The byte range of the tensor's data, relative to the start of the data buffer.
        public var dataOffsets: Range<Int>

        public init(dtype: String, shape: [Int], dataOffsets: Range<Int>) {
            self.dtype = dtype
            self.shape = shape
            self.dataOffsets = dataOffsets
        }
    }

    /// The path of the file, or the label given for data in memory; error messages start with it.
    public let source: String
    /// The `__metadata__` entries, empty if the file has none.
    public let metadata: [String: String]
    /// The header entry of every tensor, by name.
    public let tensorInfo: [String: TensorInfo]

    private let contents: Data
    private let dataStart: Int

    /// The tensor names in lexicographic order.
    public var tensorNames: [String] { tensorInfo.keys.sorted() }

    /// Reads and validates the file at `url`.
    public init(contentsOf url: URL) throws {
        let contents: Data
        do {
            contents = try Data(contentsOf: url)
        } catch {
            throw WeightFileError.readFailed(file: url.path, reason: error.localizedDescription)
        }
        try self.init(data: contents, source: url.path)
    }

    /// Validates the bytes of a safetensors file; `source` labels error messages.
    public init(data: Data, source: String = "safetensors data") throws {
        let header = try data.withUnsafeBytes { try SafeTensorsHeader(bytes: $0, file: source) }
        self.source = source
        metadata = header.metadata
        tensorInfo = header.tensors
        contents = data
        dataStart = header.dataStart
    }

    /// Reads the tensor `name` as `Scalar`, checking its shape against `expectedShape` when given.
    ///
    /// Throws `missingTensor`, `shapeMismatch`, `dtypeMismatch` (unless `convertingDtype`)
    /// or `unsupportedDtype`; see the type's documentation for the dtype rules.
    public func tensor<Scalar: TensorScalar>(
        _ name: String, as type: Scalar.Type = Scalar.self, shape expectedShape: [Int]? = nil,
        convertingDtype: Bool = false
    ) throws -> Tensor<Scalar> {
        guard let info = tensorInfo[name] else {
            throw WeightFileError.missingTensor(file: source, tensor: name, available: tensorNames)
        }
        if let expectedShape, expectedShape != info.shape {
            throw WeightFileError.shapeMismatch(file: source, tensor: name, expected: expectedShape, actual: info.shape)
        }
        let begin = dataStart + info.dataOffsets.lowerBound
        let end = dataStart + info.dataOffsets.upperBound
        return try contents.withUnsafeBytes { bytes in
            try decodeTensor(
                Scalar.self, storedDtype: info.dtype, shape: info.shape,
                bytes: UnsafeRawBufferPointer(rebasing: bytes[begin..<end]),
                convertingDtype: convertingDtype, file: source, tensor: name)
        }
    }

    /// Reads every tensor as `Scalar`; throws as `tensor(_:as:shape:convertingDtype:)` does.
    public func tensors<Scalar: TensorScalar>(
        as type: Scalar.Type = Scalar.self, convertingDtype: Bool = false
    ) throws -> [String: Tensor<Scalar>] {
        var result: [String: Tensor<Scalar>] = [:]
        for name in tensorNames {
            result[name] = try tensor(name, as: Scalar.self, convertingDtype: convertingDtype)
        }
        return result
    }

    /// Reads every tensor of the file at `url` as `Scalar`, and its metadata.
    public static func read<Scalar: TensorScalar>(
        _ type: Scalar.Type, from url: URL, convertingDtype: Bool = false
    ) throws -> (tensors: [String: Tensor<Scalar>], metadata: [String: String]) {
        let file = try SafeTensorsFile(contentsOf: url)
        return (try file.tensors(as: Scalar.self, convertingDtype: convertingDtype), file.metadata)
    }
}
