import Tensors

/// Masks for `InpaintingOperator`: `[M, 1, H, W]` tensors that are 1 on observed pixels
/// and 0 on missing ones.
public enum InpaintingMask {
    /// Returns one mask `[1, 1, height, width]` whose box of `boxHeight × boxWidth` pixels with
    /// top-left corner (`top`, `left`) is missing.
    public static func box<Scalar: TensorScalar>(
        height: Int, width: Int, top: Int, left: Int, boxHeight: Int, boxWidth: Int
    ) -> Tensor<Scalar> {
        boxes(height: height, width: width, corners: [(top, left)], boxHeight: boxHeight, boxWidth: boxWidth)
    }

    /// `count` masks whose missing `boxHeight × boxWidth` box lies inside the image at a
    /// uniformly drawn position, independently per mask.
    public static func randomBoxes<Scalar: TensorScalar>(
        count: Int, height: Int, width: Int, boxHeight: Int, boxWidth: Int, using generator: inout PhiloxRandom
    ) -> Tensor<Scalar> {
        precondition(
            boxHeight >= 1 && boxWidth >= 1 && boxHeight <= height && boxWidth <= width,
            "InpaintingMask.randomBoxes: a \(boxHeight) × \(boxWidth) box does not fit a \(height) × \(width) image")
        let corners = (0..<count).map { _ in
            (uniformInteger(below: height - boxHeight + 1, using: &generator),
             uniformInteger(below: width - boxWidth + 1, using: &generator))
        }
        return boxes(height: height, width: width, corners: corners, boxHeight: boxHeight, boxWidth: boxWidth)
    }

    /// `count` masks that each observe exactly `round(observedFraction · height · width)`
    /// pixels, a uniformly drawn subset drawn independently per mask.
    public static func randomPixels<Scalar: TensorScalar>(
        count: Int, height: Int, width: Int, observedFraction: Double, using generator: inout PhiloxRandom
    ) -> Tensor<Scalar> {
        precondition(
            observedFraction >= 0 && observedFraction <= 1,
            "InpaintingMask.randomPixels: observedFraction \(observedFraction) must lie in [0, 1]")
        let plane = height * width
        let observed = Int((observedFraction * Double(plane)).rounded())
        var scalars = [Scalar](repeating: 0, count: count * plane)
        var pixels = Array(0..<plane)
        for mask in 0..<count {
            // A partial Fisher–Yates shuffle picks the first `observed` pixels.
            for i in 0..<observed {
                let j = i + uniformInteger(below: plane - i, using: &generator)
                pixels.swapAt(i, j)
                scalars[mask * plane + pixels[i]] = 1
            }
        }
        return Tensor(shape: [count, 1, height, width], scalars: scalars)
    }

    private static func boxes<Scalar: TensorScalar>(
        height: Int, width: Int, corners: [(Int, Int)], boxHeight: Int, boxWidth: Int
    ) -> Tensor<Scalar> {
        var scalars = [Scalar](repeating: 1, count: corners.count * height * width)
        for (mask, (top, left)) in corners.enumerated() {
            precondition(
                top >= 0 && left >= 0 && top + boxHeight <= height && left + boxWidth <= width && boxHeight >= 0 && boxWidth >= 0,
                "InpaintingMask: box at (\(top), \(left)) of size \(boxHeight) × \(boxWidth) leaves the \(height) × \(width) image")
            for row in top..<(top + boxHeight) {
                for column in left..<(left + boxWidth) { scalars[(mask * height + row) * width + column] = 0 }
            }
        }
        return Tensor(shape: [corners.count, 1, height, width], scalars: scalars)
    }
}

/// A uniform integer in `0..<bound` by Lemire's multiply-and-reject method, which has no modulo bias.
func uniformInteger(below bound: Int, using generator: inout PhiloxRandom) -> Int {
    precondition(bound >= 1, "uniformInteger: bound \(bound) must be at least 1")
    let range = UInt64(bound)
    let threshold = (0 &- range) % range
    while true {
        let product = generator.next().multipliedFullWidth(by: range)
        if product.low >= threshold { return Int(product.high) }
    }
}
