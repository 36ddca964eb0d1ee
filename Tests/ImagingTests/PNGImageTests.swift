import Foundation
import Imaging
import Tensors
import XCTest

final class PNGImageTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("png-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: directory)
    }

    func testRoundTripKeepsEveryPixel() throws {
        let pixels = (0..<(37 * 23)).map { UInt8(($0 * 7) % 256) }
        let image = GrayscaleImage(width: 37, height: 23, pixels: pixels)
        let url = directory.appendingPathComponent("round-trip.png")
        try image.writePNG(to: url)
        XCTAssertEqual(try GrayscaleImage(contentsOfPNG: url), image)

        // Only the finished file is left behind, no temporary file.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["round-trip.png"])
    }

    func testGridPlacesImagesRowByRow() throws {
        // Three 2 × 3 images with constant values −1, 0 and 1 in a 2 × 2 grid.
        let values: [Double] = [-1, 0, 1]
        let images = Tensor<Double>(shape: [3, 1, 2, 3], scalars: values.flatMap { Array(repeating: $0, count: 6) })
        let grid = imageGrid(images, rows: 2, columns: 2, spacing: 1, background: 200)
        XCTAssertEqual(grid.width, 2 * 3 + 3)
        XCTAssertEqual(grid.height, 2 * 2 + 3)

        func pixel(_ i: Int, _ j: Int) -> UInt8 { grid.pixels[i * grid.width + j] }
        XCTAssertEqual(pixel(0, 0), 200)
        XCTAssertEqual(pixel(1, 1), 0)      // image 0, value −1
        XCTAssertEqual(pixel(2, 3), 0)
        XCTAssertEqual(pixel(1, 5), 128)    // image 1, value 0 rounds 127.5 up
        XCTAssertEqual(pixel(4, 1), 255)    // image 2 starts the second row
        XCTAssertEqual(pixel(4, 5), 200)    // the empty fourth cell

        let url = directory.appendingPathComponent("grid.png")
        try grid.writePNG(to: url)
        XCTAssertEqual(try GrayscaleImage(contentsOfPNG: url), grid)
    }

    func testGridClipsAndScalesUnitRange() {
        let images = Tensor<Float>(shape: [1, 1, 1, 4], scalars: [-0.5, 0.25, 1, 2])
        let grid = imageGrid(images, rows: 1, columns: 1, range: .unit, spacing: 0)
        XCTAssertEqual(grid.pixels, [0, 64, 255, 255])
    }

    func testGridMapsNonFiniteValues() {
        let images = Tensor<Float>(shape: [1, 1, 1, 4], scalars: [.nan, -.infinity, .infinity, 0])
        let grid = imageGrid(images, rows: 1, columns: 1, spacing: 0)
        XCTAssertEqual(grid.pixels[0], 0, "NaN is black")
        XCTAssertEqual(grid.pixels[1], 0, "−∞ is clipped to black")
        XCTAssertEqual(grid.pixels[2], 255, "+∞ is clipped to white")
        XCTAssertEqual(grid.pixels[3], 128, "0 rounds 127.5 up")
    }

    func testReadingMissingOrInvalidFileFails() throws {
        XCTAssertThrowsError(try GrayscaleImage(contentsOfPNG: directory.appendingPathComponent("missing.png")))
        let invalid = directory.appendingPathComponent("invalid.png")
        try Data("not a png".utf8).write(to: invalid)
        XCTAssertThrowsError(try GrayscaleImage(contentsOfPNG: invalid)) { error in
            XCTAssertTrue((error as? PNGError)?.path == invalid.path, "\(error)")
        }
    }
}
