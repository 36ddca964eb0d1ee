import Tensors

/// Transforms that make observations of any scale or layout viewable as images in a PNG grid.
public enum ImageDisplay {
    /// Maps each image linearly so that its minimum is −1 and its maximum 1.
    public static func stretched(_ images: Tensor<Float>) -> Tensor<Float> {
        let count = images.shape[0]
        let length = images.scalarCount / count
        var values = images.scalars
        for index in 0..<count {
            let range = (index * length)..<((index + 1) * length)
            let (low, high) = (values[range].min()!, values[range].max()!)
            let scale = high > low ? 2 / (high - low) : 0
            for i in range {
                values[i] = (values[i] - low) * scale - 1
            }
        }
        return Tensor(shape: images.shape, scalars: values)
    }

    /// Returns planes `[K, 1, H, W]` rolled by half their height and width, which moves the
    /// DFT's zero frequency from the corner to the centre.
    public static func centredSpectrum(_ planes: Tensor<Float>) -> Tensor<Float> {
        let (height, width) = (planes.shape[2], planes.shape[3])
        let rows = Tensor.concatenate(
            [planes.slice(alongAxis: 2, (height / 2)..<height), planes.slice(alongAxis: 2, 0..<(height / 2))], alongAxis: 2)
        return Tensor.concatenate(
            [rows.slice(alongAxis: 3, (width / 2)..<width), rows.slice(alongAxis: 3, 0..<(width / 2))], alongAxis: 3)
    }
}
