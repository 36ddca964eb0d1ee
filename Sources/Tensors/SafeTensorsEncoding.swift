import Foundation

extension SafeTensorsFile {
    /// Encodes tensors of one scalar type and string metadata as safetensors bytes.
    public static func encode<Scalar: TensorScalar>(
        _ tensors: [String: Tensor<Scalar>], metadata: [String: String] = [:]
    ) throws -> Data {
        try encode(tensors.mapValues { AnyTensor($0) }, metadata: metadata)
    }

    /// Encodes tensors of mixed dtypes and string metadata as safetensors bytes.
    ///
    /// The layout follows the reference writer, so the `safetensors` Python package
    /// (0.8.0, checked by the tests) writes the same bytes for the same tensors and a
    /// metadata object of at most one key. The data are ordered by element size, largest
    /// first, then by name, so every tensor starts at a multiple of its element size. The
    /// header lists `__metadata__` first (omitted when empty, keys sorted), then the tensors
    /// in data order, as compact JSON padded with spaces to a multiple of 8 bytes.
    /// Throws `invalidTensorName` for the reserved name `__metadata__`.
    public static func encode(_ tensors: [String: AnyTensor], metadata: [String: String] = [:]) throws -> Data {
        try encode(tensors, metadata: metadata, source: "safetensors data")
    }

    private static func encode(_ tensors: [String: AnyTensor], metadata: [String: String], source: String) throws -> Data {
        if tensors["__metadata__"] != nil {
            throw WeightFileError.invalidTensorName(
                file: source, tensor: "__metadata__", reason: "the format reserves this key for the metadata")
        }
        // Names compare as UTF-8 bytes, as in the reference writer.
        let ordered = tensors.sorted { lhs, rhs in
            if lhs.value.elementByteCount != rhs.value.elementByteCount {
                return lhs.value.elementByteCount > rhs.value.elementByteCount
            }
            return lhs.key.utf8.lexicographicallyPrecedes(rhs.key.utf8)
        }

        var entries: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            entries.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for (name, tensor) in ordered {
            let byteCount = tensor.shape.reduce(1, *) * tensor.elementByteCount
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append(
                "\(jsonString(name)):{\"dtype\":\"\(tensor.dtypeName)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + byteCount)]}")
            offset += byteCount
        }
        var header = Array("{\(entries.joined(separator: ","))}".utf8)
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))

        var data = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: header)
        for (_, tensor) in ordered {
            tensor.appendBytes(to: &data)
        }
        return data
    }

    /// Writes tensors of one scalar type and metadata to `url` with `writeAtomically(_:to:)`.
    public static func write<Scalar: TensorScalar>(
        _ tensors: [String: Tensor<Scalar>], metadata: [String: String] = [:], to url: URL
    ) throws {
        try write(tensors.mapValues { AnyTensor($0) }, metadata: metadata, to: url)
    }

    /// Writes tensors of mixed dtypes and metadata to `url` with `writeAtomically(_:to:)`.
    public static func write(_ tensors: [String: AnyTensor], metadata: [String: String] = [:], to url: URL) throws {
        try writeAtomically(encode(tensors, metadata: metadata, source: url.path), to: url)
    }
}

/// Quotes a string as JSON the way serde_json does: `"` and `\` escaped, the control
/// characters `\b \f \n \r \t` in short form and the others as `\u00xx`, everything else
/// as UTF-8.
private func jsonString(_ string: String) -> String {
    var result = "\""
    for scalar in string.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\u{08}": result += "\\b"
        case "\u{0C}": result += "\\f"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case "\u{00}"..."\u{1F}":
            let hex = String(scalar.value, radix: 16)
            result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default:
            result.unicodeScalars.append(scalar)
        }
    }
    return result + "\""
}
