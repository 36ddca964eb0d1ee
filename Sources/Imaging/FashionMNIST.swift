import Foundation
import Tensors

/// Fashion-MNIST (Zalando SE, MIT licence): 70 000 grayscale 28 × 28 images of clothing in
/// 10 classes, read from the Debian package `dataset-fashion-mnist`.
///
/// Pixels `v ∈ {0, …, 255}` become `2 v / 255 − 1 ∈ [−1, 1]`. With `paddedTo32` the images
/// get 2 pixels of value −1 (black) on each side, giving 32 × 32, the size that a U-Net
/// with three halvings needs.
public enum FashionMNIST {
    /// The folder of the gzip-compressed IDX files that `dataset-fashion-mnist` installs.
    public static let defaultDirectory = URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist")

    /// Fixed, disjoint subsets of the 60 000 training and 10 000 test images.
    public enum Split: String, CaseIterable, Sendable {
        /// Training images 0..<59000, for the unconditional prior.
        case priorTraining
        /// Training images 59000..<60000, the 1000 images for conditional fine-tuning.
        case fineTuning
        /// Test images 0..<1000, for evaluation only.
        case evaluation
        /// Test images 1000..<2000, for choosing settings without looking at the evaluation
        /// images. Neither the prior, the classifier nor DEFT trains on them.
        case validation

        /// The indices within the source file.
        public var range: Range<Int> {
            switch self {
            case .priorTraining: 0..<59_000
            case .fineTuning: 59_000..<60_000
            case .evaluation: 0..<1_000
            case .validation: 1_000..<2_000
            }
        }

        /// Whether the split comes from the test file rather than the training file.
        public var isTestImages: Bool { self == .evaluation || self == .validation }

        var filePrefix: String { isTestImages ? "t10k" : "train" }
        var fileCount: Int { isTestImages ? 10_000 : 60_000 }
    }

    /// The class names, in label order.
    public static let classNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// Loads a split as images `[N, 1, 28, 28]` (or `[N, 1, 32, 32]` with `paddedTo32`) in
    /// [−1, 1] and labels in 0…9.
    ///
    /// Throws `DatasetError` when a file is missing, naming the package to install. It also
    /// throws for a malformed file: a bad magic number, a truncated file, trailing data or
    /// images that are not 28 × 28. Counts other than Fashion-MNIST's 60 000 / 10 000,
    /// label and image files of different lengths and labels above 9 are errors too.
    public static func load<Scalar: TensorScalar>(
        _ split: Split, as type: Scalar.Type = Scalar.self, paddedTo32: Bool = false,
        directory: URL = defaultDirectory
    ) throws -> (images: Tensor<Scalar>, labels: [Int]) {
        let imagePath = directory.appendingPathComponent("\(split.filePrefix)-images-idx3-ubyte.gz").path
        let labelPath = directory.appendingPathComponent("\(split.filePrefix)-labels-idx1-ubyte.gz").path
        for path in [imagePath, labelPath] where !FileManager.default.fileExists(atPath: path) {
            throw DatasetError(
                path: path,
                reason: "file not found; install Fashion-MNIST with `apt-get install dataset-fashion-mnist` (scripts/setup does this)")
        }

        let images = try readIDX(path: imagePath, expectedRank: 3)
        guard images.dimensions[1] == 28, images.dimensions[2] == 28 else {
            throw DatasetError(path: imagePath, reason: "images are \(images.dimensions[1]) × \(images.dimensions[2]), expected 28 × 28")
        }
        guard images.dimensions[0] == split.fileCount else {
            throw DatasetError(path: imagePath, reason: "count mismatch: \(images.dimensions[0]) images, expected \(split.fileCount)")
        }
        let labels = try readIDX(path: labelPath, expectedRank: 1)
        guard labels.dimensions[0] == images.dimensions[0] else {
            throw DatasetError(
                path: labelPath, reason: "count mismatch: \(labels.dimensions[0]) labels for \(images.dimensions[0]) images in \(imagePath)")
        }
        if let invalid = labels.bytes.firstIndex(where: { $0 > 9 }) {
            throw DatasetError(path: labelPath, reason: "label \(labels.bytes[invalid]) at index \(invalid) is outside 0…9")
        }

        let range = split.range
        let tensor: Tensor<Scalar> = images.bytes.withUnsafeBufferPointer { bytes in
            let selected = UnsafeBufferPointer(rebasing: bytes[(range.lowerBound * 784)..<(range.upperBound * 784)])
            return imageTensor(selected, count: range.count, paddedTo32: paddedTo32)
        }
        return (tensor, labels.bytes[range].map(Int.init))
    }

    /// Converts `count` 28 × 28 byte images to `[count, 1, 28, 28]` in [−1, 1], or to `[count, 1, 32, 32]` with `paddedTo32`.
    static func imageTensor<Scalar: TensorScalar>(_ bytes: UnsafeBufferPointer<UInt8>, count: Int, paddedTo32: Bool) -> Tensor<Scalar> {
        let images = Tensor<Scalar>(shape: [count, 1, 28, 28]) { output in
            convertBytes(bytes, into: output, scale: 2.0 / 255, offset: -1)
        }
        guard paddedTo32 else { return images }

        // Two columns of −1 on each side, then two rows above and below.
        let columns = Tensor<Scalar>(shape: [count, 1, 28, 2], repeating: -1)
        let widened = Tensor.concatenate([columns, images, columns], alongAxis: 3)
        let rows = Tensor<Scalar>(shape: [count, 1, 2, 32], repeating: -1)
        return Tensor.concatenate([rows, widened, rows], alongAxis: 2)
    }
}
