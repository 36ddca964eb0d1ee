import CPNG
import Foundation

/// An error reading a dataset file: the file and what is wrong with it.
public struct DatasetError: Error, Equatable, CustomStringConvertible {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

/// The contents of an IDX file of unsigned bytes (the MNIST format): its dimensions and
/// its data, row-major.
struct IDXArray {
    var dimensions: [Int]
    var bytes: [UInt8]
}

/// Reads an IDX file of unsigned bytes, gzip-compressed or not, and checks it strictly.
///
/// The header is two zero bytes, the type byte 0x08 (unsigned byte), the number of
/// dimensions `d`, then `d` big-endian 32-bit extents; the data follow. The file must
/// have `expectedRank` dimensions and exactly as many data bytes as the extents
/// multiply to: a shorter file is truncated and a longer one has trailing data.
func readIDX(path: String, expectedRank: Int) throws -> IDXArray {
    let contents = try readGzipFile(path: path)

    guard contents.count >= 4 else {
        throw DatasetError(path: path, reason: "truncated: \(contents.count) bytes, shorter than the 4-byte IDX magic number")
    }
    let magic = contents[0..<4].map { String(format: "%02x", $0) }.joined()
    guard contents[0] == 0, contents[1] == 0, contents[2] == 0x08 else {
        throw DatasetError(path: path, reason: "bad magic number 0x\(magic): expected 0x0000 08 0\(expectedRank) (unsigned-byte IDX)")
    }
    guard Int(contents[3]) == expectedRank else {
        throw DatasetError(path: path, reason: "bad magic number 0x\(magic): \(contents[3]) dimensions, expected \(expectedRank)")
    }

    let headerLength = 4 + 4 * expectedRank
    guard contents.count >= headerLength else {
        throw DatasetError(path: path, reason: "truncated: \(contents.count) bytes, shorter than the \(headerLength)-byte header")
    }
    var dimensions: [Int] = []
    for axis in 0..<expectedRank {
        let offset = 4 + 4 * axis
        let extent = contents[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
        dimensions.append(extent)
    }
    let dataLength = dimensions.reduce(1, *)
    let actual = contents.count - headerLength
    guard actual >= dataLength else {
        throw DatasetError(path: path, reason: "truncated: \(actual) data bytes, but the header's dimensions \(dimensions) need \(dataLength)")
    }
    guard actual == dataLength else {
        throw DatasetError(path: path, reason: "\(actual - dataLength) bytes of trailing data after the \(dataLength) that the dimensions \(dimensions) need")
    }
    return IDXArray(dimensions: dimensions, bytes: Array(contents[headerLength...]))
}

/// Reads a whole file through zlib's gz* interface, which also reads uncompressed files.
/// A missing file, a read error and a truncated gzip stream are errors.
func readGzipFile(path: String) throws -> [UInt8] {
    guard FileManager.default.fileExists(atPath: path) else {
        throw DatasetError(path: path, reason: "file not found")
    }
    guard let file = gzopen(path, "rb") else {
        throw DatasetError(path: path, reason: "cannot open: \(String(cString: strerror(errno)))")
    }
    defer { gzclose(file) }

    var contents: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let count = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
        if count < 0 { break }
        if count == 0 { break }
        contents.append(contentsOf: chunk[0..<Int(count)])
    }

    var code: Int32 = 0
    let message = gzerror(file, &code).map { String(cString: $0) } ?? ""
    if code == Z_BUF_ERROR {
        throw DatasetError(path: path, reason: "truncated gzip stream after \(contents.count) bytes (\(message))")
    }
    if code != Z_OK {
        throw DatasetError(path: path, reason: "gzip read failed: \(message) (zlib error \(code))")
    }
    return contents
}
