import Foundation
import Tensors
import XCTest

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Helpers

/// The committed fixtures, found from this file's path because the package declares no
/// test resources.
private let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
private let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Returns `ramp(n)[i] = i / 7 - 1` in `Scalar` arithmetic, the formula of `Fixtures/make_fixtures.py`.
private func ramp<Scalar: TensorScalar>(_ shape: [Int], as type: Scalar.Type = Scalar.self) -> Tensor<Scalar> {
    Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { Scalar($0) / 7 - 1 })
}

/// Returns the IEEE special values of `make_fixtures.py`: ±0, ±∞, a quiet NaN, the smallest
/// subnormal, the largest finite value and 1/3.
private func specialValues<Scalar: TensorScalar>(_ type: Scalar.Type = Scalar.self) -> Tensor<Scalar> {
    Tensor([0, -0.0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude, Scalar(1) / 3])
}

/// Returns the elements' IEEE bit patterns, so that comparisons are exact even for NaN and -0.
private func bitPatterns(_ tensor: AnyTensor) -> [UInt64] {
    switch tensor {
    case let .float(tensor): return tensor.scalars.map { UInt64($0.bitPattern) }
    case let .double(tensor): return tensor.scalars.map { $0.bitPattern }
    }
}

private func bitPatterns<Scalar: TensorScalar>(_ tensor: Tensor<Scalar>) -> [UInt64] {
    bitPatterns(AnyTensor(tensor))
}

/// Creates an empty directory that is removed when the test ends.
private func makeTemporaryDirectory(for test: XCTestCase) throws -> URL {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("WeightFileTests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
    return directory
}

/// Builds the bytes of a safetensors file from the given header text and a zero-filled data buffer.
private func safetensorsBytes(header: String, bufferByteCount: Int) -> Data {
    var data = Data()
    withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(contentsOf: Array(header.utf8))
    data.append(Data(count: bufferByteCount))
    return data
}

/// Checks that `body` throws a `WeightFileError` for which `matches` is true.
private func assertWeightFileError(
    _ body: @autoclosure () throws -> some Any, _ matches: (WeightFileError) -> Bool, _ message: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertThrowsError(try body(), message, file: file, line: line) { error in
        guard let weightFileError = error as? WeightFileError else {
            return XCTFail("\(message): threw \(type(of: error)) \(error), not a WeightFileError", file: file, line: line)
        }
        XCTAssertTrue(matches(weightFileError), "\(message): unexpected error \(weightFileError)", file: file, line: line)
    }
}

// MARK: - safetensors

final class SafeTensorsTests: XCTestCase {
    func testRoundTripPreservesBitsShapesAndMetadata() throws {
        let directory = try makeTemporaryDirectory(for: self)
        let url = directory.appendingPathComponent("model.safetensors")
        let tensors: [String: Tensor<Float>] = [
            "scalar": Tensor(-2.5),
            "vector": ramp([5]),
            "wide": ramp([2, 3]),
            "tall": ramp([3, 2]),
            "cube": ramp([2, 3, 4]),
            "empty": Tensor(zeros: [0, 3]),
            "special": specialValues(),
            "name with \"quotes\", a \\ and ünïcode": ramp([2]),
        ]
        let metadata = ["step": "1200", "note": "line one\nline \"two\"\t\u{1}", "ключ": "значение"]

        try SafeTensorsFile.write(tensors, metadata: metadata, to: url)
        let file = try SafeTensorsFile(contentsOf: url)

        XCTAssertEqual(file.metadata, metadata)
        XCTAssertEqual(file.tensorNames, tensors.keys.sorted())
        for (name, expected) in tensors {
            let actual = try file.tensor(name, as: Float.self)
            XCTAssertEqual(actual.shape, expected.shape, name)
            XCTAssertEqual(bitPatterns(actual), bitPatterns(expected), name)
            XCTAssertEqual(file.tensorInfo[name]?.dtype, "F32", name)
        }

        let (readTensors, readMetadata) = try SafeTensorsFile.read(Float.self, from: url)
        XCTAssertEqual(readMetadata, metadata)
        XCTAssertEqual(readTensors.mapValues(bitPatterns), tensors.mapValues(bitPatterns))
    }

    func testMixedDtypesKeepAlignment() throws {
        let tensors: [String: AnyTensor] = [
            "a.float": .float(ramp([3])),
            "b.double": .double(ramp([2, 2])),
            "c.float": .float(ramp([1])),
            "d.double": .double(Tensor(0.5)),
        ]
        let file = try SafeTensorsFile(data: SafeTensorsFile.encode(tensors))

        // Eight-byte elements come first, then four-byte ones, each group by name.
        let order = file.tensorNames.sorted { file.tensorInfo[$0]!.dataOffsets.lowerBound < file.tensorInfo[$1]!.dataOffsets.lowerBound }
        XCTAssertEqual(order, ["b.double", "d.double", "a.float", "c.float"])
        for name in order {
            let info = try XCTUnwrap(file.tensorInfo[name])
            XCTAssertEqual(info.dataOffsets.lowerBound % (info.dtype == "F64" ? 8 : 4), 0, name)
        }
        XCTAssertEqual(bitPatterns(try file.tensor("b.double", as: Double.self)), bitPatterns(ramp([2, 2], as: Double.self)))
        XCTAssertEqual(bitPatterns(try file.tensor("c.float", as: Float.self)), bitPatterns(ramp([1], as: Float.self)))
        XCTAssertEqual(try file.tensor("d.double", as: Double.self).shape, [])
    }

    /// Byte vectors from the tests of the reference Rust implementation (safetensors
    /// `tensor.rs`): the header is compact JSON padded with spaces to a multiple of 8.
    func testEncodingMatchesReferenceBytes() throws {
        func expected(header: String, data: [Float]) -> [UInt8] {
            var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) }
            bytes += Array(header.utf8)
            for value in data { bytes += withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
            return bytes
        }
        let values: [Float] = [0, 1, 2, 3, 4, 5]

        let unpadded = try SafeTensorsFile.encode(["attn.0": Tensor(shape: [1, 2, 3], scalars: values)])
        XCTAssertEqual(
            Array(unpadded),
            expected(header: #"{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}"#, data: values))

        let padded = try SafeTensorsFile.encode(["attn0": Tensor(shape: [1, 1, 2, 3], scalars: values)])
        XCTAssertEqual(
            Array(padded),
            expected(header: #"{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       "#, data: values))

        let empty = try SafeTensorsFile.encode([String: Tensor<Float>]())
        XCTAssertEqual(Array(empty), expected(header: "{}      ", data: []))

        let metadataOnly = try SafeTensorsFile.encode([String: Tensor<Float>](), metadata: ["framework": "pt"])
        XCTAssertEqual(Array(metadataOnly), expected(header: #"{"__metadata__":{"framework":"pt"}}     "#, data: []))
    }

    func testNamedReadChecksNameShapeAndDtype() throws {
        let file = try SafeTensorsFile(
            data: SafeTensorsFile.encode(["weight": AnyTensor(ramp([2, 3], as: Double.self))]), source: "model.safetensors")

        XCTAssertEqual(try file.tensor("weight", as: Double.self, shape: [2, 3]).shape, [2, 3])
        assertWeightFileError(
            try file.tensor("weight", as: Double.self, shape: [3, 2]),
            { $0 == .shapeMismatch(file: "model.safetensors", tensor: "weight", expected: [3, 2], actual: [2, 3]) },
            "expected shape")
        assertWeightFileError(
            try file.tensor("bias", as: Double.self),
            { $0 == .missingTensor(file: "model.safetensors", tensor: "bias", available: ["weight"]) },
            "missing tensor")
        assertWeightFileError(
            try file.tensor("weight", as: Float.self),
            { $0 == .dtypeMismatch(file: "model.safetensors", tensor: "weight", stored: "F64", requested: "F32") },
            "F64 read as Float without conversion")

        let error = WeightFileError.shapeMismatch(file: "model.safetensors", tensor: "weight", expected: [3, 2], actual: [2, 3])
        XCTAssertEqual(error.description, "model.safetensors: tensor 'weight': stored shape [2, 3] differs from the expected shape [3, 2]")
    }

    func testExplicitDtypeConversion() throws {
        let double = ramp([2, 3], as: Double.self)
        let file = try SafeTensorsFile(data: SafeTensorsFile.encode(["weight": double]))

        let narrowed = try file.tensor("weight", as: Float.self, convertingDtype: true)
        XCTAssertEqual(bitPatterns(narrowed), bitPatterns(Tensor(shape: [2, 3], scalars: double.scalars.map { Float($0) })))
        XCTAssertEqual(try file.tensors(as: Float.self, convertingDtype: true).keys.sorted(), ["weight"])

        let single = ramp([4], as: Float.self)
        let widened = try SafeTensorsFile(data: SafeTensorsFile.encode(["x": single])).tensor("x", as: Double.self, convertingDtype: true)
        XCTAssertEqual(widened.scalars, single.scalars.map { Double($0) })
    }

    /// A file with a dtype this library cannot hold opens, but reading that tensor throws.
    func testUnsupportedDtypeOpensButCannotBeRead() throws {
        let header = #"{"half":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}"#
        let file = try SafeTensorsFile(data: safetensorsBytes(header: header, bufferByteCount: 8), source: "bf16.safetensors")
        XCTAssertEqual(file.tensorInfo["half"], SafeTensorsFile.TensorInfo(dtype: "BF16", shape: [2], dataOffsets: 0..<4))
        XCTAssertEqual(try file.tensor("x", as: Float.self).scalars, [0])
        assertWeightFileError(
            try file.tensor("half", as: Float.self, convertingDtype: true),
            { $0 == .unsupportedDtype(file: "bf16.safetensors", tensor: "half", dtype: "BF16") },
            "BF16")
    }

    func testReservedTensorNameIsRejected() throws {
        assertWeightFileError(
            try SafeTensorsFile.encode(["__metadata__": Tensor<Float>(1)]),
            { if case .invalidTensorName(_, "__metadata__", _) = $0 { true } else { false } },
            "__metadata__ as a tensor name")
    }

    func testPythonWrittenFixture() throws {
        let file = try SafeTensorsFile(contentsOf: fixturesDirectory.appendingPathComponent("python-written.safetensors"))

        XCTAssertEqual(file.metadata, ["format": "np", "producer": "make_fixtures.py"])
        XCTAssertEqual(
            file.tensorNames,
            ["empty_f32", "matrix_f32", "matrix_f64", "scalar_f32", "scalar_f64", "special_f32", "special_f64", "tensor_f32", "vector_f64"])

        let floats: [String: Tensor<Float>] = [
            "scalar_f32": Tensor(-2.5),
            "matrix_f32": ramp([2, 3]),
            "tensor_f32": ramp([2, 3, 4]),
            "empty_f32": Tensor(zeros: [0, 3]),
            "special_f32": specialValues(),
        ]
        let doubles: [String: Tensor<Double>] = [
            "scalar_f64": Tensor(Double.pi),
            "vector_f64": ramp([5]),
            "matrix_f64": ramp([3, 2]),
            "special_f64": specialValues(),
        ]
        for (name, expected) in floats {
            let actual = try file.tensor(name, as: Float.self, shape: expected.shape)
            XCTAssertEqual(bitPatterns(actual), bitPatterns(expected), name)
        }
        for (name, expected) in doubles {
            let actual = try file.tensor(name, as: Double.self, shape: expected.shape)
            XCTAssertEqual(bitPatterns(actual), bitPatterns(expected), name)
        }
    }
}

// MARK: - Malformed safetensors files

final class MalformedSafeTensorsTests: XCTestCase {
    private func sampleFile() throws -> Data {
        try SafeTensorsFile.encode(
            ["bias": AnyTensor(ramp([3], as: Float.self)), "weight": AnyTensor(ramp([2, 3], as: Double.self))],
            metadata: ["step": "7"])
    }

    func testEveryTruncationThrows() throws {
        let data = try sampleFile()
        for length in 0..<data.count {
            assertWeightFileError(try SafeTensorsFile(data: data.prefix(length)), { _ in true }, "truncated to \(length) of \(data.count) bytes")
        }
        XCTAssertNoThrow(try SafeTensorsFile(data: data))
    }

    /// Random bit flips in the length field and the header: each mutated file must either
    /// throw a `WeightFileError` or open, and then every tensor must read or throw a
    /// `WeightFileError`. A trap or a hang would end the test run.
    func testHeaderBitFlipsNeverTrap() throws {
        let data = try sampleFile()
        let headerEnd = 8 + Int(data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var random = PhiloxRandom(seed: 2024)
        var rejected = 0
        let trials = 3000
        for trial in 0..<trials {
            var mutated = data
            for _ in 0..<(1 + trial % 3) {
                let index = Int.random(in: 0..<headerEnd, using: &random)
                mutated[index] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &random)
            }
            do {
                let file = try SafeTensorsFile(data: mutated, source: "trial \(trial)")
                for name in file.tensorNames {
                    do {
                        _ = try file.tensor(name, as: Float.self, convertingDtype: true)
                    } catch is WeightFileError {
                        continue
                    }
                }
            } catch is WeightFileError {
                rejected += 1
            } catch {
                XCTFail("trial \(trial): threw \(error), not a WeightFileError")
            }
        }
        // A flip inside a metadata string or a space of padding can leave a valid file,
        // but most flips break the length, the JSON, a dtype, a shape or an offset.
        XCTAssertGreaterThan(rejected, trials / 2)
    }

    func testRandomBytesAfterValidLengthThrow() throws {
        var random = PhiloxRandom(seed: 99)
        for trial in 0..<500 {
            let headerLength = Int.random(in: 0..<64, using: &random)
            var data = Data()
            withUnsafeBytes(of: UInt64(headerLength).littleEndian) { data.append(contentsOf: $0) }
            data.append(contentsOf: (0..<(headerLength + Int.random(in: 0..<16, using: &random))).map { _ in UInt8.random(in: 0...255, using: &random) })
            assertWeightFileError(try SafeTensorsFile(data: data), { _ in true }, "random header \(trial)")
        }
    }

    func testMalformedHeadersThrowSpecificErrors() {
        let file = "safetensors data"
        func open(_ header: String, buffer: Int) throws -> SafeTensorsFile {
            try SafeTensorsFile(data: safetensorsBytes(header: header, bufferByteCount: buffer))
        }
        func isInvalidHeader(_ error: WeightFileError) -> Bool {
            if case .invalidHeader = error { return true }
            return false
        }

        assertWeightFileError(
            try SafeTensorsFile(data: Data([1, 2, 3, 4, 5])),
            { if case .truncated = $0 { true } else { false } }, "shorter than the length field")

        var longHeader = Data()
        withUnsafeBytes(of: UInt64(1000).littleEndian) { longHeader.append(contentsOf: $0) }
        longHeader.append(contentsOf: Array("{}".utf8))
        assertWeightFileError(
            try SafeTensorsFile(data: longHeader),
            { if case .truncated = $0 { true } else { false } }, "header length past the end of the file")

        var hugeHeader = Data(repeating: 0xFF, count: 8)
        hugeHeader.append(contentsOf: Array("{}".utf8))
        assertWeightFileError(
            try SafeTensorsFile(data: hugeHeader),
            { $0 == .headerTooLarge(file: file, headerLength: UInt64.max, limit: 100_000_000) }, "header length 2^64 - 1")

        assertWeightFileError(try open("[]", buffer: 0), isInvalidHeader, "array header")
        assertWeightFileError(try open(" {}", buffer: 0), isInvalidHeader, "leading space")
        assertWeightFileError(try open(#"{"a": "#, buffer: 0), isInvalidHeader, "unterminated JSON")
        assertWeightFileError(try open("{}\u{0}", buffer: 0), isInvalidHeader, "NUL padding")
        assertWeightFileError(try open(#"{"a":"\ud800"}"#, buffer: 0), isInvalidHeader, "lone surrogate")
        assertWeightFileError(
            try SafeTensorsFile(data: { var d = safetensorsBytes(header: #"{"__metadata__":{"k":"xx"}}"#, bufferByteCount: 0); d[d.count - 4] = 0xC3; return d }()),
            isInvalidHeader, "invalid UTF-8")
        assertWeightFileError(
            try open("{\"a\":" + String(repeating: "[", count: 100_000) + "}", buffer: 0), isInvalidHeader, "deep nesting")
        assertWeightFileError(try open(#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, buffer: 4), isInvalidHeader, "missing dtype")
        assertWeightFileError(try open(#"{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,4]}}"#, buffer: 4), isInvalidHeader, "fractional extent")
        assertWeightFileError(try open(#"{"a":{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}}"#, buffer: 4), isInvalidHeader, "exponent extent")
        assertWeightFileError(
            try open(#"{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}}"#, buffer: 4), isInvalidHeader, "extent past Int")
        assertWeightFileError(try open(#"{"a":{"dtype":"F32","shape":"2","data_offsets":[0,4]}}"#, buffer: 4), isInvalidHeader, "string shape")
        assertWeightFileError(try open(#"{"__metadata__":{"k":1}}"#, buffer: 0), isInvalidHeader, "numeric metadata value")
        assertWeightFileError(try open(#"{"__metadata__":[]}"#, buffer: 0), isInvalidHeader, "metadata array")

        assertWeightFileError(
            try open(#"{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}"#, buffer: 16),
            { $0 == .unknownDtype(file: file, tensor: "a", dtype: "F128") }, "unknown dtype")
        assertWeightFileError(
            try open(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, buffer: 4),
            { $0 == .invalidShape(file: file, tensor: "a", shape: [-1]) }, "negative extent")
        assertWeightFileError(
            try open(#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#, buffer: 4),
            { $0 == .invalidShape(file: file, tensor: "a", shape: [4_611_686_018_427_387_904, 4]) }, "element count overflow")
        assertWeightFileError(
            try open(#"{"a":{"dtype":"F32","shape":[0,4611686018427387904,4],"data_offsets":[0,0]}}"#, buffer: 0),
            { $0 == .invalidShape(file: file, tensor: "a", shape: [0, 4_611_686_018_427_387_904, 4]) },
            "empty tensor whose strides overflow")
        assertWeightFileError(
            try open(#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#, buffer: 12),
            { $0 == .offsetsMismatch(file: file, tensor: "a", dtype: "F32", shape: [2, 2], offsets: [0, 12], expectedByteCount: 16) },
            "offsets shorter than the shape")
        assertWeightFileError(
            try open(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, buffer: 8),
            { $0 == .invalidOffsets(file: file, tensor: "a", offsets: [8, 0]) }, "reversed offsets")
        assertWeightFileError(
            try open(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}"#, buffer: 8),
            { $0 == .invalidOffsets(file: file, tensor: "a", offsets: [0, 4, 8]) }, "three offsets")
        assertWeightFileError(
            try open(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}"#, buffer: 8),
            { $0 == .invalidOffsets(file: file, tensor: "a", offsets: [-8, 0]) }, "negative offset")
        assertWeightFileError(
            try open(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, buffer: 12),
            { $0 == .overlappingOffsets(file: file, tensor: "b", otherTensor: "a") }, "overlap")
        assertWeightFileError(
            try open(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#, buffer: 12),
            { $0 == .uncoveredBytes(file: file, range: 4..<8) }, "gap")
        assertWeightFileError(
            try open(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, buffer: 8),
            { $0 == .uncoveredBytes(file: file, range: 4..<8) }, "trailing bytes")
        assertWeightFileError(
            try open(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, buffer: 4),
            { $0 == .offsetsOutOfRange(file: file, tensor: "a", offsets: [0, 8], bufferByteCount: 4) }, "past the buffer")
        assertWeightFileError(
            try open(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, buffer: 8),
            { if case .invalidTensorName(_, "a", _) = $0 { true } else { false } }, "duplicate name")
    }

    func testMissingFileReportsPath() {
        let url = URL(fileURLWithPath: "/nonexistent-directory/model.safetensors")
        assertWeightFileError(
            try SafeTensorsFile(contentsOf: url),
            { if case .readFailed("/nonexistent-directory/model.safetensors", _) = $0 { true } else { false } },
            "missing file")
    }
}

// MARK: - NumPy .npy

final class NumPyFileTests: XCTestCase {
    func testRoundTripPreservesBits() throws {
        let directory = try makeTemporaryDirectory(for: self)
        for shape in [[], [5], [2, 3], [3, 2], [2, 3, 4], [0, 3]] {
            let single: Tensor<Float> = shape == [5] ? specialValues().slice(alongAxis: 0, 0..<5) : ramp(shape)
            let url = directory.appendingPathComponent("f32.npy")
            try NumPyFile.write(single, to: url)
            let readSingle = try NumPyFile.read(Float.self, from: url)
            XCTAssertEqual(readSingle.shape, shape)
            XCTAssertEqual(bitPatterns(readSingle), bitPatterns(single), "\(shape)")

            let double: Tensor<Double> = ramp(shape)
            let readDouble = try NumPyFile.decode(Double.self, from: NumPyFile.encode(double))
            XCTAssertEqual(readDouble.shape, shape)
            XCTAssertEqual(bitPatterns(readDouble), bitPatterns(double), "\(shape)")
        }
    }

    func testPreambleLayout() throws {
        let cases: [(shape: [Int], header: String)] = [
            ([2, 3], "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"),
            ([7], "{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }"),
            ([], "{'descr': '<f4', 'fortran_order': False, 'shape': (), }"),
        ]
        for (shape, header) in cases {
            let data = Array(NumPyFile.encode(Tensor<Float>(zeros: shape)))
            XCTAssertEqual(Array(data[0..<8]), [0x93] + Array("NUMPY".utf8) + [1, 0], "\(shape)")
            let headerLength = Int(data[8]) | Int(data[9]) << 8
            let preambleLength = 10 + headerLength
            XCTAssertEqual(preambleLength % 64, 0, "\(shape)")
            XCTAssertEqual(data.count, preambleLength + 4 * shape.reduce(1, *), "\(shape)")
            let text = String(decoding: data[10..<preambleLength], as: UTF8.self)
            XCTAssertTrue(text.hasPrefix(header), "\(shape): \(text)")
            XCTAssertTrue(text.hasSuffix("\n"), "\(shape)")
            XCTAssertEqual(text.dropFirst(header.count).dropLast(), Substring(String(repeating: " ", count: headerLength - header.count - 1)))
        }
        let double = String(decoding: NumPyFile.encode(Tensor<Double>(zeros: [1])).dropFirst(10), as: UTF8.self)
        XCTAssertTrue(double.hasPrefix("{'descr': '<f8',"))
    }

    func testPythonWrittenFixtures() throws {
        let single = try NumPyFile.read(Float.self, from: fixturesDirectory.appendingPathComponent("python-written-f32.npy"))
        XCTAssertEqual(single.shape, [3, 4])
        XCTAssertEqual(bitPatterns(single), bitPatterns(ramp([3, 4], as: Float.self)))

        // Fortran order on disk; the same values in the same logical positions.
        let fortran = try NumPyFile.read(Double.self, from: fixturesDirectory.appendingPathComponent("python-written-f64-fortran.npy"))
        XCTAssertEqual(fortran.shape, [2, 3, 4])
        XCTAssertEqual(bitPatterns(fortran), bitPatterns(ramp([2, 3, 4], as: Double.self)))
        XCTAssertEqual(fortran[1, 2, 3], 23.0 / 7 - 1)

        let bigEndian = try NumPyFile.read(Double.self, from: fixturesDirectory.appendingPathComponent("python-written-f64-big-endian.npy"))
        XCTAssertEqual(bigEndian.shape, [4, 2])
        XCTAssertEqual(bitPatterns(bigEndian), bitPatterns(ramp([4, 2], as: Double.self)))

        let scalar = try NumPyFile.read(Float.self, from: fixturesDirectory.appendingPathComponent("python-written-scalar-f32.npy"))
        XCTAssertEqual(scalar.shape, [])
        XCTAssertEqual(scalar.scalar, 0.375)

        assertWeightFileError(
            try NumPyFile.read(Float.self, from: fixturesDirectory.appendingPathComponent("python-written-f64-fortran.npy")),
            { if case .dtypeMismatch(_, "", "F64", "F32") = $0 { true } else { false } }, "F64 read as Float")
        let converted = try NumPyFile.read(Float.self, from: fixturesDirectory.appendingPathComponent("python-written-f64-fortran.npy"), convertingDtype: true)
        XCTAssertEqual(converted.scalars, fortran.scalars.map { Float($0) })
    }

    func testEveryTruncationThrows() {
        let data = NumPyFile.encode(ramp([2, 3], as: Float.self))
        for length in 0..<data.count {
            assertWeightFileError(try NumPyFile.decode(Float.self, from: data.prefix(length)), { _ in true }, "truncated to \(length) of \(data.count) bytes")
        }
    }

    /// Random bit flips in the preamble and the header dict must throw a `WeightFileError`
    /// or decode. A trap or a hang would end the test run.
    func testHeaderBitFlipsNeverTrap() {
        let data = NumPyFile.encode(ramp([2, 3], as: Double.self))
        let preambleLength = 10 + (Int(data[8]) | Int(data[9]) << 8)
        var random = PhiloxRandom(seed: 11)
        var rejected = 0
        let trials = 3000
        for trial in 0..<trials {
            var mutated = data
            for _ in 0..<(1 + trial % 3) {
                let index = Int.random(in: 0..<preambleLength, using: &random)
                mutated[index] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &random)
            }
            do {
                _ = try NumPyFile.decode(Float.self, from: mutated, convertingDtype: true)
            } catch is WeightFileError {
                rejected += 1
            } catch {
                XCTFail("trial \(trial): threw \(error), not a WeightFileError")
            }
        }
        // Flips inside the padding spaces or that turn '<' into '>' can leave a valid
        // file; most flips break the magic, the length, the dict or the dtype.
        XCTAssertGreaterThan(rejected, trials / 2)
    }

    func testMalformedHeadersThrow() {
        func npy(_ header: String, dataByteCount: Int, version: UInt8 = 1) -> Data {
            var data = Data([0x93] + Array("NUMPY".utf8) + [version, 0])
            withUnsafeBytes(of: UInt16(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
            data.append(contentsOf: Array(header.utf8))
            data.append(Data(count: dataByteCount))
            return data
        }
        func isInvalidHeader(_ error: WeightFileError) -> Bool {
            if case .invalidHeader = error { return true }
            return false
        }
        let valid = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n"
        XCTAssertEqual(try NumPyFile.decode(Float.self, from: npy(valid, dataByteCount: 8)).shape, [2])

        assertWeightFileError(try NumPyFile.decode(Float.self, from: Data("NUMPY plus text".utf8)), isInvalidHeader, "bad magic")
        assertWeightFileError(try NumPyFile.decode(Float.self, from: npy(valid, dataByteCount: 8, version: 4)), isInvalidHeader, "version 4")
        assertWeightFileError(try NumPyFile.decode(Float.self, from: npy(valid, dataByteCount: 12)), isInvalidHeader, "trailing data")
        assertWeightFileError(
            try NumPyFile.decode(Float.self, from: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", dataByteCount: 8)),
            isInvalidHeader, "one-element tuple without comma")
        assertWeightFileError(
            try NumPyFile.decode(Float.self, from: npy("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", dataByteCount: 8)),
            isInvalidHeader, "integer fortran_order")
        assertWeightFileError(
            try NumPyFile.decode(Float.self, from: npy("{'descr': '<f4', 'shape': (2,), }", dataByteCount: 8)),
            isInvalidHeader, "missing key")
        assertWeightFileError(
            try NumPyFile.decode(Float.self, from: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': True}", dataByteCount: 8)),
            isInvalidHeader, "extra key")
        assertWeightFileError(
            try NumPyFile.decode(Float.self, from: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", dataByteCount: 8)),
            isInvalidHeader, "extent past Int")
        assertWeightFileError(
            try NumPyFile.decode(Float.self, from: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", dataByteCount: 8)),
            { if case .invalidShape = $0 { true } else { false } }, "element count overflow")
        assertWeightFileError(
            try NumPyFile.decode(Float.self, from: npy("{'descr': '<f4', 'fortran_order': True, 'shape': (0, 4611686018427387904, 4), }", dataByteCount: 0)),
            { if case .invalidShape = $0 { true } else { false } }, "empty array whose strides overflow")
        assertWeightFileError(
            try NumPyFile.decode(Float.self, from: npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", dataByteCount: 8)),
            { $0 == .unsupportedDtype(file: "npy data", tensor: "", dtype: "<i4") }, "integer dtype")
    }
}

// MARK: - Atomic writes

final class AtomicWriteTests: XCTestCase {
    private func directoryListing(_ directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    }

    func testReplacesFileAndKeepsPermissions() throws {
        let directory = try makeTemporaryDirectory(for: self)
        let url = directory.appendingPathComponent("checkpoint.json")

        try writeAtomically(Data("old".utf8), to: url)
        XCTAssertEqual(try Data(contentsOf: url), Data("old".utf8))
        XCTAssertEqual(chmod(url.path, 0o640), 0)

        try writeAtomically(Data("new contents".utf8), to: url)
        XCTAssertEqual(try Data(contentsOf: url), Data("new contents".utf8))
        XCTAssertEqual(try directoryListing(directory), ["checkpoint.json"])
        let permissions = try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int
        XCTAssertEqual(permissions, 0o640)

        try writeAtomically(Data(), to: url)
        XCTAssertEqual(try Data(contentsOf: url), Data())
    }

    func testMissingDirectoryThrowsAndCreatesNothing() throws {
        let directory = try makeTemporaryDirectory(for: self)
        let url = directory.appendingPathComponent("missing/weights.safetensors")

        XCTAssertThrowsError(try writeAtomically(Data("x".utf8), to: url)) { error in
            let writeError = error as? FileWriteError
            XCTAssertEqual(writeError?.code, ENOENT)
            XCTAssertEqual(writeError?.path, url.path)
            XCTAssertTrue(writeError?.description.contains("No such file or directory") ?? false, "\(error)")
        }
        XCTAssertEqual(try directoryListing(directory), [])
    }

    /// Renaming over a non-empty directory fails after the temporary file is complete;
    /// the temporary file must be removed and the directory left as it was.
    func testFailedRenameRemovesTemporaryFile() throws {
        let directory = try makeTemporaryDirectory(for: self)
        let target = directory.appendingPathComponent("occupied")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: false)
        try Data("keep".utf8).write(to: target.appendingPathComponent("inside"))

        XCTAssertThrowsError(try writeAtomically(Data("x".utf8), to: target)) { error in
            XCTAssertTrue((error as? FileWriteError)?.step.hasPrefix("rename") ?? false, "\(error)")
        }
        XCTAssertEqual(try directoryListing(directory), ["occupied"])
        XCTAssertEqual(try Data(contentsOf: target.appendingPathComponent("inside")), Data("keep".utf8))
    }

    /// A write that fails part-way, here because the file-size limit `RLIMIT_FSIZE` is
    /// lowered below the data size, leaves the old file intact and no temporary file.
    /// The limit is process-wide, so it is restored before the test returns; while it is
    /// lowered this test writes nothing else.
    func testFailedWriteKeepsOldFile() throws {
        let directory = try makeTemporaryDirectory(for: self)
        let url = directory.appendingPathComponent("weights.safetensors")
        let old = Data(repeating: 1, count: 100)
        try writeAtomically(old, to: url)

        var savedLimit = rlimit()
        XCTAssertEqual(getrlimit(RLIMIT_FSIZE_RESOURCE, &savedLimit), 0)
        let savedHandler = signal(SIGXFSZ, SIG_IGN)
        var lowered = savedLimit
        lowered.rlim_cur = 4096
        XCTAssertEqual(setrlimit(RLIMIT_FSIZE_RESOURCE, &lowered), 0)
        var thrown: Error?
        do {
            try writeAtomically(Data(repeating: 2, count: 65536), to: url)
        } catch {
            thrown = error
        }
        XCTAssertEqual(setrlimit(RLIMIT_FSIZE_RESOURCE, &savedLimit), 0)
        signal(SIGXFSZ, savedHandler)

        let writeError = try XCTUnwrap(thrown as? FileWriteError, "expected a FileWriteError, got \(String(describing: thrown))")
        XCTAssertEqual(writeError.code, EFBIG)
        XCTAssertTrue(writeError.step.hasPrefix("write"), writeError.description)
        XCTAssertEqual(try Data(contentsOf: url), old)
        XCTAssertEqual(try directoryListing(directory), ["weights.safetensors"])
    }
}

#if canImport(Glibc)
private let RLIMIT_FSIZE_RESOURCE = __rlimit_resource_t(RLIMIT_FSIZE.rawValue)
#endif

// MARK: - Python interoperability

/// Reads files written by Swift with the `safetensors` and `numpy` Python packages and
/// compares bit patterns. The interpreter is `.peers/venv/bin/python`, made by
/// `scripts/python-env`; the test fails, not skips, when it is missing.
final class PythonInteropTests: XCTestCase {
    private static let script = #"""
    import json, sys
    from pathlib import Path
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import load_file, save

    directory = Path(sys.argv[1])

    def describe(array):
        array = np.asarray(array)
        width = {np.dtype("float32"): 8, np.dtype("float64"): 16}[array.dtype]
        unsigned = np.uint32 if width == 8 else np.uint64
        bits = array.reshape(-1).view(unsigned).tolist()
        return {"dtype": str(array.dtype), "shape": list(array.shape),
                "bits": [format(b, "0%dx" % width) for b in bits]}

    tensors = load_file(str(directory / "swift.safetensors"))
    with safe_open(str(directory / "swift.safetensors"), framework="np") as handle:
        metadata = handle.metadata()
    result = {
        "safetensors": {name: describe(value) for name, value in tensors.items()},
        "metadata": metadata,
        "npy": {path.name: describe(np.load(path)) for path in sorted(directory.glob("*.npy"))},
        "reserialized": save(tensors, metadata={"producer": "python"}).hex(),
    }
    (directory / "python-output.json").write_text(json.dumps(result))
    """#

    private struct Described: Decodable, Equatable {
        var dtype: String
        var shape: [Int]
        var bits: [String]
    }

    private struct Output: Decodable {
        var safetensors: [String: Described]
        var metadata: [String: String]
        var npy: [String: Described]
        var reserialized: String
    }

    private func described(_ tensor: AnyTensor) -> Described {
        let (dtype, width) = if case .float = tensor { ("float32", 8) } else { ("float64", 16) }
        let bits = bitPatterns(tensor).map { pattern in
            let hex = String(pattern, radix: 16)
            return String(repeating: "0", count: width - hex.count) + hex
        }
        return Described(dtype: dtype, shape: tensor.shape, bits: bits)
    }

    func testPythonReadsSwiftFilesBitForBit() throws {
        let python = repositoryRoot.appendingPathComponent(".peers/venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            return XCTFail("\(python.path) is missing; run scripts/python-env to create the Python environment with numpy and safetensors")
        }
        let directory = try makeTemporaryDirectory(for: self)

        var random = PhiloxRandom(seed: 5)
        let tensors: [String: AnyTensor] = [
            "encoder.weight": .float(Tensor.normal(shape: [4, 3], using: &random)),
            "encoder.bias": .float(ramp([3])),
            "scale": .double(Tensor(Double.pi)),
            "noise": .double(Tensor.normal(shape: [2, 3, 2], using: &random)),
            "special.f32": .float(specialValues()),
            "special.f64": .double(specialValues()),
            "empty": .float(Tensor(zeros: [0, 2])),
        ]
        let metadata = ["producer": "swift", "note": "quotes \" and ünïcode"]
        try SafeTensorsFile.write(tensors, metadata: metadata, to: directory.appendingPathComponent("swift.safetensors"))

        let arrays: [String: AnyTensor] = [
            "matrix-f32.npy": .float(Tensor.normal(shape: [3, 5], using: &random)),
            "cube-f64.npy": .double(Tensor.normal(shape: [2, 2, 3], using: &random)),
            "scalar-f64.npy": .double(Tensor(-0.0)),
            "special-f32.npy": .float(specialValues()),
        ]
        for (name, array) in arrays {
            let url = directory.appendingPathComponent(name)
            switch array {
            case let .float(tensor): try NumPyFile.write(tensor, to: url)
            case let .double(tensor): try NumPyFile.write(tensor, to: url)
            }
        }

        let process = Process()
        process.executableURL = python
        process.arguments = ["-c", Self.script, directory.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let log = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "python failed:\n\(log)")
        guard process.terminationStatus == 0 else { return }

        let output = try JSONDecoder().decode(Output.self, from: Data(contentsOf: directory.appendingPathComponent("python-output.json")))
        XCTAssertEqual(output.metadata, metadata)
        XCTAssertEqual(output.safetensors.keys.sorted(), tensors.keys.sorted())
        for (name, tensor) in tensors {
            XCTAssertEqual(output.safetensors[name], described(tensor), name)
        }
        XCTAssertEqual(output.npy.keys.sorted(), arrays.keys.sorted())
        for (name, array) in arrays {
            XCTAssertEqual(output.npy[name], described(array), name)
        }

        // The reference writer, given the same tensors and one metadata key, produces
        // the same bytes as this encoder.
        let encoded = try SafeTensorsFile.encode(tensors, metadata: ["producer": "python"])
        XCTAssertEqual(output.reserialized, encoded.map { String(format: "%02x", $0) }.joined())
    }
}
