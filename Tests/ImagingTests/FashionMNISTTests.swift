import CPNG
import Foundation
import Imaging
import Tensors
import XCTest

final class FashionMNISTTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fashion-mnist-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: directory)
    }

    /// Writes `bytes` gzip-compressed to `name` in the temporary directory.
    private func writeGzip(_ bytes: [UInt8], name: String) {
        let path = directory.appendingPathComponent(name).path
        let file = gzopen(path, "wb")!
        let written = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
        XCTAssertEqual(Int(written), bytes.count)
        XCTAssertEqual(gzclose(file), Z_OK)
    }

    private func header(magic: [UInt8], dimensions: [Int]) -> [UInt8] {
        magic + dimensions.flatMap { extent in (0..<4).reversed().map { UInt8((extent >> (8 * $0)) & 0xFF) } }
    }

    /// Writes a well-formed test split of `count` images whose pixel p of image i is (i + p) mod 256.
    private func writeTestSplit(count: Int = 10_000, labelCount: Int? = nil, side: Int = 28) {
        let pixels = (0..<(count * side * side)).map { UInt8(($0 / (side * side) + $0 % (side * side)) % 256) }
        writeGzip(header(magic: [0, 0, 8, 3], dimensions: [count, side, side]) + pixels, name: "t10k-images-idx3-ubyte.gz")
        let labels = (0..<(labelCount ?? count)).map { UInt8($0 % 10) }
        writeGzip(header(magic: [0, 0, 8, 1], dimensions: [labelCount ?? count]) + labels, name: "t10k-labels-idx1-ubyte.gz")
    }

    private func loadError(_ split: FashionMNIST.Split = .evaluation) -> DatasetError? {
        do {
            _ = try FashionMNIST.load(split, as: Float.self, directory: directory)
            return nil
        } catch let error as DatasetError {
            return error
        } catch {
            XCTFail("unexpected error \(error)")
            return nil
        }
    }

    func testWellFormedFilesLoad() throws {
        writeTestSplit()
        let (images, labels) = try FashionMNIST.load(.evaluation, as: Double.self, directory: directory)
        XCTAssertEqual(images.shape, [1000, 1, 28, 28])
        XCTAssertEqual(labels.count, 1000)
        XCTAssertEqual(labels[13], 3)
        // Image 3, pixel (0, 5) is byte 8: 2 · 8 / 255 − 1.
        XCTAssertEqual(images[3, 0, 0, 5], 2 * 8 / 255 - 1, accuracy: 1e-15)
        XCTAssertEqual(images[0, 0, 9, 3], 2 * 255 / 255 - 1, accuracy: 1e-15)
    }

    func testValidationSplitIsTheNextThousandTestImages() throws {
        writeTestSplit()
        let (images, labels) = try FashionMNIST.load(.validation, as: Double.self, directory: directory)
        XCTAssertEqual(images.shape, [1000, 1, 28, 28])
        XCTAssertEqual(labels.count, 1000)
        // Validation image 3 is test image 1003: label 3, pixel (0, 5) is byte (1003 + 5) mod 256 = 240.
        XCTAssertEqual(labels[3], 3)
        XCTAssertEqual(images[3, 0, 0, 5], 2 * 240 / 255 - 1, accuracy: 1e-15)
        XCTAssertEqual(FashionMNIST.Split.validation.range, 1000..<2000)
        XCTAssertTrue(FashionMNIST.Split.evaluation.range.allSatisfy { !FashionMNIST.Split.validation.range.contains($0) })
    }

    func testPaddingAddsBlackBorder() throws {
        writeTestSplit()
        let plain = try FashionMNIST.load(.evaluation, as: Float.self, directory: directory).images
        let padded = try FashionMNIST.load(.evaluation, as: Float.self, paddedTo32: true, directory: directory).images
        XCTAssertEqual(padded.shape, [1000, 1, 32, 32])
        for (i, j) in [(0, 0), (1, 17), (31, 31), (15, 30), (30, 2)] {
            XCTAssertEqual(padded[7, 0, i, j], -1, "border pixel (\(i), \(j))")
        }
        XCTAssertEqual(padded[7, 0, 2, 2], plain[7, 0, 0, 0])
        XCTAssertEqual(padded[7, 0, 29, 29], plain[7, 0, 27, 27])
    }

    func testMissingFileNamesPackage() {
        let error = loadError()
        XCTAssertNotNil(error)
        XCTAssertTrue(error?.path.hasSuffix("t10k-images-idx3-ubyte.gz") ?? false, "\(String(describing: error))")
        XCTAssertTrue(error?.reason.contains("apt-get install dataset-fashion-mnist") ?? false, "\(String(describing: error))")
    }

    func testBadMagicIsRejected() {
        writeTestSplit()
        writeGzip(header(magic: [0, 0, 9, 3], dimensions: [10_000, 28, 28]), name: "t10k-images-idx3-ubyte.gz")
        XCTAssertTrue(loadError()?.reason.contains("bad magic number 0x00000903") ?? false, "\(String(describing: loadError()))")

        writeGzip(header(magic: [0, 0, 8, 2], dimensions: [10_000, 784]), name: "t10k-images-idx3-ubyte.gz")
        XCTAssertTrue(loadError()?.reason.contains("2 dimensions, expected 3") ?? false, "\(String(describing: loadError()))")
    }

    func testTruncatedDataIsRejected() {
        writeTestSplit()
        let pixels = [UInt8](repeating: 7, count: 10_000 * 784 - 1)
        writeGzip(header(magic: [0, 0, 8, 3], dimensions: [10_000, 28, 28]) + pixels, name: "t10k-images-idx3-ubyte.gz")
        let error = loadError()
        XCTAssertTrue(error?.reason.contains("truncated") ?? false, "\(String(describing: error))")
        XCTAssertTrue(error?.path.hasSuffix("t10k-images-idx3-ubyte.gz") ?? false)

        writeGzip([0, 0, 8], name: "t10k-images-idx3-ubyte.gz")
        XCTAssertTrue(loadError()?.reason.contains("truncated") ?? false, "\(String(describing: loadError()))")
    }

    func testTruncatedGzipStreamIsRejected() throws {
        writeTestSplit()
        let path = directory.appendingPathComponent("t10k-images-idx3-ubyte.gz")
        let compressed = try Data(contentsOf: path)
        try compressed.prefix(compressed.count / 2).write(to: path)
        let error = loadError()
        XCTAssertTrue(error?.reason.contains("truncated gzip stream") ?? false, "\(String(describing: error))")
    }

    func testTrailingDataIsRejected() {
        writeTestSplit()
        let labels = (0..<10_000).map { UInt8($0 % 10) } + [1, 2]
        writeGzip(header(magic: [0, 0, 8, 1], dimensions: [10_000]) + labels, name: "t10k-labels-idx1-ubyte.gz")
        XCTAssertTrue(loadError()?.reason.contains("2 bytes of trailing data") ?? false, "\(String(describing: loadError()))")
    }

    func testCountMismatchesAreRejected() {
        writeTestSplit(count: 10_000, labelCount: 9_999)
        let labelError = loadError()
        XCTAssertTrue(labelError?.reason.contains("count mismatch: 9999 labels for 10000 images") ?? false, "\(String(describing: labelError))")
        XCTAssertTrue(labelError?.path.hasSuffix("t10k-labels-idx1-ubyte.gz") ?? false)

        writeTestSplit(count: 1_200)
        XCTAssertTrue(loadError()?.reason.contains("count mismatch: 1200 images, expected 10000") ?? false, "\(String(describing: loadError()))")
    }

    func testWrongImageSizeIsRejected() {
        writeTestSplit(count: 10_000, side: 27)
        XCTAssertTrue(loadError()?.reason.contains("images are 27 × 27, expected 28 × 28") ?? false, "\(String(describing: loadError()))")
    }

    func testInvalidLabelIsRejected() {
        writeTestSplit()
        var labels = (0..<10_000).map { UInt8($0 % 10) }
        labels[42] = 10
        writeGzip(header(magic: [0, 0, 8, 1], dimensions: [10_000]) + labels, name: "t10k-labels-idx1-ubyte.gz")
        XCTAssertTrue(loadError()?.reason.contains("label 10 at index 42") ?? false, "\(String(describing: loadError()))")
    }

    /// The installed Debian files: sizes, the [−1, 1] scale and known labels and pixels
    /// (read independently with Python's gzip module).
    func testInstalledDatasetSplits() throws {
        let evaluation = try FashionMNIST.load(.evaluation, as: Float.self)
        XCTAssertEqual(evaluation.images.shape, [1000, 1, 28, 28])
        XCTAssertEqual(Array(evaluation.labels.prefix(10)), [9, 2, 1, 1, 6, 1, 4, 6, 5, 7])
        XCTAssertEqual(Set(evaluation.labels), Set(0..<10))

        let fineTuning = try FashionMNIST.load(.fineTuning, as: Float.self, paddedTo32: true)
        XCTAssertEqual(fineTuning.images.shape, [1000, 1, 32, 32])
        XCTAssertEqual(Array(fineTuning.labels.prefix(10)), [8, 5, 2, 6, 7, 4, 1, 0, 2, 5])
        // Training image 59000, pixel (14, 14), is byte 195.
        XCTAssertEqual(fineTuning.images[0, 0, 16, 16], Float(2 * 195) / 255 - 1, accuracy: 1e-6)

        let prior = try FashionMNIST.load(.priorTraining, as: Float.self)
        XCTAssertEqual(prior.images.shape, [59_000, 1, 28, 28])
        XCTAssertEqual(Array(prior.labels.prefix(10)), [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
        // Training image 0 has pixel sum 76247 and a white pixel.
        let first = prior.images.slice(alongAxis: 0, 0..<1)
        XCTAssertEqual(Double(first.sum()), 2 * 76247 / 255 - 784, accuracy: 1e-3)
        XCTAssertEqual(first.scalars.max(), 1)
        XCTAssertGreaterThanOrEqual(prior.images.scalars.min()!, -1)
    }

    func testSplitsAreDisjoint() {
        let prior = FashionMNIST.Split.priorTraining.range
        let fineTuning = FashionMNIST.Split.fineTuning.range
        XCTAssertFalse(prior.overlaps(fineTuning))
        XCTAssertEqual(prior.count + fineTuning.count, 60_000)
        XCTAssertEqual(FashionMNIST.Split.evaluation.range.count, 1000)
    }
}
