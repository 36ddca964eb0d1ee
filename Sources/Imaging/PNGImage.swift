import CPNG
import Foundation
import Tensors

/// An error from encoding or decoding a PNG file, with libpng's message.
public struct PNGError: Error, Equatable, CustomStringConvertible {
    public var path: String
    public var reason: String

    public var description: String { "\(path): \(reason)" }
}

/// An 8-bit grayscale image, row-major, one byte per pixel.
public struct GrayscaleImage: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0, "GrayscaleImage: size \(width) × \(height) must be positive")
        precondition(pixels.count == width * height, "GrayscaleImage: \(pixels.count) pixels for \(width) × \(height)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Encodes the image as a PNG in memory with libpng's simplified API
    /// (`png_image_write_to_memory`).
    public func pngData() throws -> Data {
        var image = pngImage(width: width, height: height)
        var byteCount = 0
        // The first call with no buffer measures the encoded size.
        let measured = pixels.withUnsafeBytes { buffer in
            png_image_write_to_memory(&image, nil, &byteCount, 0, buffer.baseAddress, Int32(width), nil)
        }
        guard measured != 0 else {
            throw PNGError(path: "<memory>", reason: "PNG encoding failed: \(pngMessage(&image))")
        }

        var data = Data(count: byteCount)
        let written = data.withUnsafeMutableBytes { output in
            pixels.withUnsafeBytes { buffer in
                png_image_write_to_memory(&image, output.baseAddress, &byteCount, 0, buffer.baseAddress, Int32(width), nil)
            }
        }
        guard written != 0 else {
            throw PNGError(path: "<memory>", reason: "PNG encoding failed: \(pngMessage(&image))")
        }
        return data.prefix(byteCount)
    }

    /// Writes the image as a PNG file with `writeAtomically(_:to:)`, so a reader never sees
    /// a partial file.
    public func writePNG(to url: URL) throws {
        try writeAtomically(pngData(), to: url)
    }

    /// Reads a PNG file as 8-bit grayscale; libpng converts colour images to gray and drops alpha.
    public init(contentsOfPNG url: URL) throws {
        var image = pngImage(width: 0, height: 0)
        guard png_image_begin_read_from_file(&image, url.path) != 0 else {
            throw PNGError(path: url.path, reason: "PNG decoding failed: \(pngMessage(&image))")
        }
        image.format = UInt32(PNG_FORMAT_GRAY)
        let (width, height) = (Int(image.width), Int(image.height))
        var pixels = [UInt8](repeating: 0, count: width * height)
        let finished = pixels.withUnsafeMutableBytes { buffer in
            png_image_finish_read(&image, nil, buffer.baseAddress, Int32(width), nil)
        }
        guard finished != 0 else {
            throw PNGError(path: url.path, reason: "PNG decoding failed: \(pngMessage(&image))")
        }
        self.init(width: width, height: height, pixels: pixels)
    }
}

/// The range of image values that maps to black (0) and white (255).
public enum PixelRange: Sendable {
    /// [−1, 1], the data's scale.
    case symmetric
    /// [0, 1].
    case unit
}

/// Lays out images `[N, 1, H, W]` as a grid of `rows × columns` cells, filled row by row,
/// with `spacing` pixels of `background` between cells and around the border.
///
/// Values are mapped from `range` to 0…255, clipped and rounded to the nearest byte, so
/// −∞ becomes 0 and +∞ becomes 255. NaN becomes 0 (black). Cells past the last image stay `background`. `N` must not exceed `rows · columns`.
public func imageGrid<Scalar: TensorScalar>(
    _ images: Tensor<Scalar>, rows: Int, columns: Int, range: PixelRange = .symmetric,
    spacing: Int = 2, background: UInt8 = 128
) -> GrayscaleImage {
    precondition(images.rank == 4 && images.shape[1] == 1, "imageGrid: images of shape \(images.shape) must be [N, 1, H, W]")
    precondition(rows >= 1 && columns >= 1, "imageGrid: a \(rows) × \(columns) grid has no cells")
    let (count, height, width) = (images.shape[0], images.shape[2], images.shape[3])
    precondition(count <= rows * columns, "imageGrid: \(count) images do not fit \(rows) × \(columns) cells")
    precondition(spacing >= 0, "imageGrid: spacing \(spacing) must not be negative")

    let gridWidth = columns * width + (columns + 1) * spacing
    let gridHeight = rows * height + (rows + 1) * spacing
    var pixels = [UInt8](repeating: background, count: gridWidth * gridHeight)
    let values = doubleScalars(images)
    let (low, high) = range == .symmetric ? (-1.0, 1.0) : (0.0, 1.0)

    for index in 0..<count {
        let top = spacing + (index / columns) * (height + spacing)
        let left = spacing + (index % columns) * (width + spacing)
        for i in 0..<height {
            for j in 0..<width {
                let scaled = (values[(index * height + i) * width + j] - low) / (high - low) * 255
                // Swift.max(NaN, 0) is NaN, and UInt8(NaN) traps, so NaN is mapped first.
                let clipped = scaled.isNaN ? 0 : Swift.min(Swift.max(scaled, 0), 255)
                pixels[(top + i) * gridWidth + left + j] = UInt8(clipped.rounded())
            }
        }
    }
    return GrayscaleImage(width: gridWidth, height: gridHeight, pixels: pixels)
}

/// Returns a `png_image` control structure for 8-bit grayscale.
private func pngImage(width: Int, height: Int) -> png_image {
    var image = png_image()
    image.version = UInt32(PNG_IMAGE_VERSION)
    image.width = UInt32(width)
    image.height = UInt32(height)
    image.format = UInt32(PNG_FORMAT_GRAY)
    return image
}

/// libpng's message for a failed simplified-API call, after which the image is freed.
private func pngMessage(_ image: inout png_image) -> String {
    let message = withUnsafeBytes(of: image.message) { bytes in
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
    png_image_free(&image)
    return message
}
