/// The element types that the safetensors format defines, with their sizes in bits.
///
/// Only `F32` and `F64` can be read into tensors. The others are listed so that files
/// containing them can still be opened, validated and read in part.
/// NOTE: the list is the one that the `safetensors` Python package 0.8.0 accepts; a dtype
/// added later is reported as `WeightFileError.unknownDtype`.
enum SafeTensorsDtype: String {
    case bool = "BOOL"
    case f4 = "F4", f6e2m3 = "F6_E2M3", f6e3m2 = "F6_E3M2"
    case u8 = "U8", i8 = "I8", f8e5m2 = "F8_E5M2", f8e4m3 = "F8_E4M3", f8e8m0 = "F8_E8M0"
    case f8e4m3fnuz = "F8_E4M3FNUZ", f8e5m2fnuz = "F8_E5M2FNUZ"
    case i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
    case i32 = "I32", u32 = "U32", f32 = "F32"
    case c64 = "C64", f64 = "F64", i64 = "I64", u64 = "U64"

    var bitWidth: Int {
        switch self {
        case .f4: return 4
        case .f6e2m3, .f6e3m2: return 6
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3, .f8e8m0, .f8e4m3fnuz, .f8e5m2fnuz: return 8
        case .i16, .u16, .f16, .bf16: return 16
        case .i32, .u32, .f32: return 32
        case .c64, .f64, .i64, .u64: return 64
        }
    }
}

/// The parsed and validated header of a safetensors file.
struct SafeTensorsHeader {
    /// The largest header the reader accepts, as in the reference implementation: 100 MB.
    static let maximumByteCount = 100_000_000

    var metadata: [String: String]
    var tensors: [String: SafeTensorsFile.TensorInfo]
    /// The number of bytes before the data buffer: the 8-byte length field plus the header.
    var dataStart: Int

    /// Parses the header of the file `bytes` and checks every rule of the format.
    ///
    /// The declared length must fit in the file, and the header must be a JSON object
    /// that starts with `{`. Each tensor needs a known dtype, a valid shape and
    /// `[begin, end]` offsets whose length matches dtype and shape. Together the tensors
    /// must tile the data buffer exactly, with no overlap and no gap.
    init(bytes: UnsafeRawBufferPointer, file: String) throws {
        guard bytes.count >= 8 else {
            throw WeightFileError.truncated(
                file: file, reason: "\(bytes.count) bytes, fewer than the 8-byte header length field")
        }
        let headerLength = bytes.loadUnaligned(as: UInt64.self).littleEndian
        guard headerLength <= UInt64(Self.maximumByteCount) else {
            throw WeightFileError.headerTooLarge(file: file, headerLength: headerLength, limit: Self.maximumByteCount)
        }
        dataStart = 8 + Int(headerLength)
        guard dataStart <= bytes.count else {
            throw WeightFileError.truncated(
                file: file, reason: "the header length field declares \(headerLength) header bytes but only \(bytes.count - 8) follow it")
        }

        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<dataStart])
        guard headerBytes.first == UInt8(ascii: "{") else {
            throw WeightFileError.invalidHeader(file: file, reason: "the JSON header does not start with '{'")
        }
        let json: HeaderJSON
        do {
            json = try HeaderJSON.parse(headerBytes)
        } catch let error as HeaderJSONError {
            throw WeightFileError.invalidHeader(file: file, reason: "invalid JSON at header byte \(error.offset): \(error.message)")
        }
        guard case let .object(members) = json else {
            throw WeightFileError.invalidHeader(file: file, reason: "the JSON header is not an object")
        }

        metadata = [:]
        tensors = [:]
        var sawMetadata = false
        for (name, value) in members {
            if name == "__metadata__" {
                guard !sawMetadata else {
                    throw WeightFileError.invalidHeader(file: file, reason: "'__metadata__' appears twice")
                }
                sawMetadata = true
                metadata = try Self.parseMetadata(value, file: file)
                continue
            }
            guard tensors[name] == nil else {
                throw WeightFileError.invalidTensorName(file: file, tensor: name, reason: "the header lists it twice")
            }
            tensors[name] = try Self.parseTensorInfo(value, name: name, file: file)
        }

        try Self.checkCoverage(of: tensors, bufferByteCount: bytes.count - dataStart, file: file)
    }

    private static func parseMetadata(_ value: HeaderJSON, file: String) throws -> [String: String] {
        guard case let .object(members) = value else {
            throw WeightFileError.invalidHeader(file: file, reason: "'__metadata__' is a \(value.typeName), not an object of strings")
        }
        var metadata: [String: String] = [:]
        for (key, entry) in members {
            guard case let .string(text) = entry else {
                throw WeightFileError.invalidHeader(file: file, reason: "'__metadata__' value for key '\(key)' is a \(entry.typeName), not a string")
            }
            guard metadata[key] == nil else {
                throw WeightFileError.invalidHeader(file: file, reason: "'__metadata__' lists key '\(key)' twice")
            }
            metadata[key] = text
        }
        return metadata
    }

    private static func parseTensorInfo(_ value: HeaderJSON, name: String, file: String) throws -> SafeTensorsFile.TensorInfo {
        guard case let .object(members) = value else {
            throw WeightFileError.invalidHeader(file: file, reason: "entry for tensor '\(name)' is a \(value.typeName), not an object")
        }
        func member(_ key: String) throws -> HeaderJSON {
            guard let found = members.first(where: { $0.key == key }) else {
                throw WeightFileError.invalidHeader(file: file, reason: "entry for tensor '\(name)' has no '\(key)'")
            }
            return found.value
        }
        func integers(_ key: String) throws -> [Int] {
            let value = try member(key)
            guard case let .array(elements) = value else {
                throw WeightFileError.invalidHeader(file: file, reason: "'\(key)' of tensor '\(name)' is a \(value.typeName), not an array")
            }
            return try elements.map { element in
                guard let integer = element.integerValue else {
                    throw WeightFileError.invalidHeader(
                        file: file, reason: "'\(key)' of tensor '\(name)' contains a \(element.typeName), not an integer that fits in Int")
                }
                return integer
            }
        }

        let dtypeValue = try member("dtype")
        guard case let .string(dtypeName) = dtypeValue else {
            throw WeightFileError.invalidHeader(file: file, reason: "'dtype' of tensor '\(name)' is a \(dtypeValue.typeName), not a string")
        }
        guard let dtype = SafeTensorsDtype(rawValue: dtypeName) else {
            throw WeightFileError.unknownDtype(file: file, tensor: name, dtype: dtypeName)
        }
        let shape = try integers("shape")
        let offsets = try integers("data_offsets")

        guard offsets.count == 2, offsets[0] >= 0, offsets[0] <= offsets[1] else {
            throw WeightFileError.invalidOffsets(file: file, tensor: name, offsets: offsets)
        }
        guard let elementCount = elementCount(ofStoredShape: shape) else {
            throw WeightFileError.invalidShape(file: file, tensor: name, shape: shape)
        }
        let (bitCount, overflow) = elementCount.multipliedReportingOverflow(by: dtype.bitWidth)
        guard !overflow else {
            throw WeightFileError.invalidShape(file: file, tensor: name, shape: shape)
        }
        guard bitCount % 8 == 0, offsets[1] - offsets[0] == bitCount / 8 else {
            throw WeightFileError.offsetsMismatch(
                file: file, tensor: name, dtype: dtypeName, shape: shape, offsets: offsets,
                expectedByteCount: (bitCount + 7) / 8)
        }
        return SafeTensorsFile.TensorInfo(dtype: dtypeName, shape: shape, dataOffsets: offsets[0]..<offsets[1])
    }

    /// Checks that the tensors, sorted by offset, tile `0..<bufferByteCount` exactly.
    private static func checkCoverage(
        of tensors: [String: SafeTensorsFile.TensorInfo], bufferByteCount: Int, file: String
    ) throws {
        let ordered = tensors.sorted {
            ($0.value.dataOffsets.lowerBound, $0.value.dataOffsets.upperBound, $0.key)
                < ($1.value.dataOffsets.lowerBound, $1.value.dataOffsets.upperBound, $1.key)
        }
        var end = 0
        var previousName = ""
        for (name, info) in ordered {
            let offsets = info.dataOffsets
            if offsets.lowerBound < end {
                throw WeightFileError.overlappingOffsets(file: file, tensor: name, otherTensor: previousName)
            }
            if offsets.upperBound > bufferByteCount {
                throw WeightFileError.offsetsOutOfRange(
                    file: file, tensor: name, offsets: [offsets.lowerBound, offsets.upperBound], bufferByteCount: bufferByteCount)
            }
            if offsets.lowerBound > end {
                throw WeightFileError.uncoveredBytes(file: file, range: end..<offsets.lowerBound)
            }
            end = offsets.upperBound
            previousName = name
        }
        if end < bufferByteCount {
            throw WeightFileError.uncoveredBytes(file: file, range: end..<bufferByteCount)
        }
    }
}
