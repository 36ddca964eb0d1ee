/// The header dict of a `.npy` file: `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
///
/// The parser accepts the subset of Python literals that NumPy writes. Strings are in
/// single or double quotes without escapes, booleans are `True` and `False`, and shapes
/// are tuples of non-negative integers, which may carry the `L` suffix of Python 2 files.
/// Dicts and tuples may end with a comma. The dict must have exactly the keys `descr`, `fortran_order` and `shape`.
struct NumPyHeader {
    var elementByteCount: Int
    var isBigEndian: Bool
    var isFortranOrder: Bool
    var shape: [Int]

    init(parsing bytes: UnsafeRawBufferPointer, file: String) throws {
        var parser = NumPyHeaderParser(bytes: bytes)
        let entries: [(key: String, value: NumPyHeaderParser.Value)]
        do {
            entries = try parser.parseDictionary()
        } catch let error as HeaderJSONError {
            throw WeightFileError.invalidHeader(file: file, reason: "invalid header dict at byte \(error.offset): \(error.message)")
        }

        let keys = entries.map(\.key)
        guard keys.sorted() == ["descr", "fortran_order", "shape"] else {
            throw WeightFileError.invalidHeader(
                file: file, reason: "header dict has keys \(keys); expected exactly 'descr', 'fortran_order' and 'shape'")
        }
        let values = Dictionary(uniqueKeysWithValues: entries.map { ($0.key, $0.value) })

        guard case let .string(descr) = values["descr"] else {
            throw WeightFileError.invalidHeader(file: file, reason: "'descr' is not a string; structured dtypes are not supported")
        }
        switch descr {
        case "<f4", "=f4": (elementByteCount, isBigEndian) = (4, false)
        case "<f8", "=f8": (elementByteCount, isBigEndian) = (8, false)
        case ">f4": (elementByteCount, isBigEndian) = (4, true)
        case ">f8": (elementByteCount, isBigEndian) = (8, true)
        default: throw WeightFileError.unsupportedDtype(file: file, tensor: "", dtype: descr)
        }
        guard case let .bool(fortranOrder) = values["fortran_order"] else {
            throw WeightFileError.invalidHeader(file: file, reason: "'fortran_order' is not True or False")
        }
        isFortranOrder = fortranOrder
        guard case let .tuple(shape) = values["shape"] else {
            throw WeightFileError.invalidHeader(file: file, reason: "'shape' is not a tuple of integers")
        }
        self.shape = shape
    }
}

/// A recursive-descent parser for the header dict; errors reuse `HeaderJSONError`, which
/// carries a byte offset and a message.
private struct NumPyHeaderParser {
    enum Value {
        case string(String)
        case bool(Bool)
        case tuple([Int])
    }

    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    func error(_ message: String) -> HeaderJSONError {
        HeaderJSONError(offset: position, message: message)
    }

    mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
            position += 1
        }
    }

    /// Parses the whole header: one dict, then only whitespace.
    mutating func parseDictionary() throws -> [(key: String, value: Value)] {
        skipWhitespace()
        guard current == UInt8(ascii: "{") else { throw error("expected '{'") }
        position += 1
        var entries: [(key: String, value: Value)] = []
        while true {
            skipWhitespace()
            if current == UInt8(ascii: "}") {
                position += 1
                break
            }
            let key = try parseString()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
            position += 1
            skipWhitespace()
            entries.append((key, try parseValue()))
            skipWhitespace()
            if current == UInt8(ascii: ",") {
                position += 1
            } else if current != UInt8(ascii: "}") {
                throw error("expected ',' or '}'")
            }
        }
        skipWhitespace()
        guard position == bytes.count else { throw error("unexpected content after the dict") }
        return entries
    }

    mutating func parseValue() throws -> Value {
        switch current {
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "("):
            return .tuple(try parseTuple())
        case UInt8(ascii: "T"):
            try parseWord("True")
            return .bool(true)
        case UInt8(ascii: "F"):
            try parseWord("False")
            return .bool(false)
        default:
            throw error("expected a string, True, False or a tuple")
        }
    }

    mutating func parseWord(_ word: String) throws {
        let expected = Array(word.utf8)
        guard position + expected.count <= bytes.count,
              expected.indices.allSatisfy({ bytes[position + $0] == expected[$0] })
        else { throw error("expected \(word)") }
        position += expected.count
    }

    mutating func parseString() throws -> String {
        guard let quote = current, quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") else {
            throw error("expected a quoted string")
        }
        position += 1
        let start = position
        while let byte = current, byte != quote {
            guard byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\\") else {
                throw error("unsupported byte 0x\(String(byte, radix: 16)) in a string")
            }
            position += 1
        }
        guard current == quote else { throw error("unterminated string") }
        let string = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        position += 1
        return string
    }

    /// Parses `()`, `(n,)` or `(n, m, …)` with an optional trailing comma.
    ///
    /// A single element needs its comma because in Python `(3)` is an integer, not a tuple.
    mutating func parseTuple() throws -> [Int] {
        position += 1
        var elements: [Int] = []
        var sawTrailingComma = false
        while true {
            skipWhitespace()
            if current == UInt8(ascii: ")") {
                position += 1
                break
            }
            elements.append(try parseInteger())
            skipWhitespace()
            sawTrailingComma = current == UInt8(ascii: ",")
            if sawTrailingComma {
                position += 1
            } else if current != UInt8(ascii: ")") {
                throw error("expected ',' or ')' in the shape tuple")
            }
        }
        guard elements.count != 1 || sawTrailingComma else {
            throw error("a one-element shape tuple needs a trailing comma")
        }
        return elements
    }

    mutating func parseInteger() throws -> Int {
        let start = position
        while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { position += 1 }
        guard position > start,
              let value = Int(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self))
        else { throw error("expected a non-negative integer that fits in Int") }
        if current == UInt8(ascii: "L") { position += 1 }
        return value
    }
}
