import Foundation
import Imaging
import Tensors

/// The comparison figure: one column per image, and rows for the ground truth, the
/// observation shown on the image grid, and each method that applies, in table order.
public enum ReconstructionFigure {
    /// Returns the grid as a grayscale image, each pixel repeated `zoom` times.
    ///
    /// - Parameters:
    ///   - truth: the first images `[K, 1, 32, 32]`.
    ///   - observations: their observations `[K, …]`.
    ///   - results: the methods' results; those that apply contribute their `preview`.
    public static func grid(
        task: ImagingTask, truth: Tensor<Float>, observations: Tensor<Float>, results: [MethodResult], zoom: Int = 2
    ) -> GrayscaleImage {
        let count = truth.shape[0]
        var rows = [truth, displayedObservation(observations, task: task)]
        for result in results {
            guard let preview = result.preview else { continue }
            precondition(preview.shape[0] == count, "ReconstructionFigure: \(result.name) has \(preview.shape[0]) previews for \(count) images")
            rows.append(preview)
        }
        var images = Tensor.concatenate(rows, alongAxis: 0)
        if zoom > 1 {
            images = upsampleNearest2d(images, factor: zoom)
        }
        return imageGrid(images, rows: rows.count, columns: count)
    }

    /// Returns the row labels of `grid`, top to bottom.
    public static func rowNames(results: [MethodResult]) -> [String] {
        ["ground truth", "observation"] + results.filter { $0.preview != nil }.map(\.name)
    }

    /// Returns observations `[K, …]` as 32 × 32 images in [−1, 1]. Observations already on
    /// the data's scale (inpainting, super-resolution, blur, HDR) keep it; CT sinograms and
    /// phase-retrieval magnitudes are rescaled to fill the gray range, the magnitudes after
    /// a logarithm and with the zero frequency moved to the centre.
    public static func displayedObservation(_ y: Tensor<Float>, task: ImagingTask) -> Tensor<Float> {
        let side = ImagingTask.imageSide
        switch task {
        case .inpainting, .superResolution, .blur, .hdr:
            return resized(y, side: side)
        case .ct:
            return resized(ImageDisplay.stretched(y), side: side)
        case .phaseRetrieval:
            return resized(ImageDisplay.stretched(ImageDisplay.centredSpectrum(log(y.applying(.abs) + 0.05))), side: side)
        }
    }

    /// Returns images `[K, 1, H, W]` resized to `side × side`: by average pooling when
    /// H = W is a multiple of `side`, by nearest-neighbour sampling otherwise.
    static func resized(_ images: Tensor<Float>, side: Int) -> Tensor<Float> {
        precondition(images.rank == 4 && images.shape[1] == 1, "ReconstructionFigure: observations of shape \(images.shape) must be [K, 1, H, W]")
        let (count, height, width) = (images.shape[0], images.shape[2], images.shape[3])
        if height == side && width == side { return images }
        if height == width && height % side == 0 { return avgPool2d(images, kernelSize: height / side) }

        let sourceRows = (0..<side).map { $0 * height / side }
        let sourceColumns = (0..<side).map { $0 * width / side }
        let values = images.scalars
        var result = [Float](repeating: 0, count: count * side * side)
        for k in 0..<count {
            for (i, row) in sourceRows.enumerated() {
                for (j, column) in sourceColumns.enumerated() {
                    result[(k * side + i) * side + j] = values[(k * height + row) * width + column]
                }
            }
        }
        return Tensor(shape: [count, 1, side, side], scalars: result)
    }
}
