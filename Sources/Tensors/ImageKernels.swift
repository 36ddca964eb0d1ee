// The Float and Double implementations of the image requirements of `TensorScalar`:
// each calls the generic kernel with its concrete type, so the loops are specialised.

extension Float {
    public static func im2col(
        _ image: UnsafePointer<Float>, _ columns: UnsafeMutablePointer<Float>, geometry: ConvolutionGeometry, leadingDimension: Int
    ) {
        im2colKernel(image, columns, geometry, leadingDimension: leadingDimension)
    }

    public static func col2im(
        _ columns: UnsafePointer<Float>, _ image: UnsafeMutablePointer<Float>, geometry: ConvolutionGeometry, leadingDimension: Int
    ) {
        col2imKernel(columns, image, geometry, leadingDimension: leadingDimension)
    }

    public static func groupNormForward(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, scale: UnsafePointer<Float>, offset: UnsafePointer<Float>,
        mean: UnsafeMutablePointer<Float>, inverseStandardDeviation: UnsafeMutablePointer<Float>,
        layout: GroupNormLayout, epsilon: Float
    ) {
        groupNormForwardKernel(x, y, scale, offset, mean, inverseStandardDeviation, layout, epsilon)
    }

    public static func groupNormBackward(
        _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>?,
        scale: UnsafePointer<Float>, mean: UnsafePointer<Float>, inverseStandardDeviation: UnsafePointer<Float>,
        channelSums: UnsafeMutablePointer<Float>, channelProductSums: UnsafeMutablePointer<Float>,
        layout: GroupNormLayout
    ) {
        groupNormBackwardKernel(x, dy, dx, scale, mean, inverseStandardDeviation, channelSums, channelProductSums, layout)
    }

    public static func groupNormSiLUForward(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, scale: UnsafePointer<Float>, offset: UnsafePointer<Float>,
        mean: UnsafeMutablePointer<Float>, inverseStandardDeviation: UnsafeMutablePointer<Float>,
        layout: GroupNormLayout, epsilon: Float
    ) {
        groupNormSiLUForwardKernel(x, y, scale, offset, mean, inverseStandardDeviation, layout, epsilon)
    }

    public static func groupNormSiLUBackward(
        _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>?,
        scale: UnsafePointer<Float>, offset: UnsafePointer<Float>, mean: UnsafePointer<Float>,
        inverseStandardDeviation: UnsafePointer<Float>, channelSums: UnsafeMutablePointer<Float>,
        channelProductSums: UnsafeMutablePointer<Float>, layout: GroupNormLayout
    ) {
        groupNormSiLUBackwardKernel(
            x, dy, dx, scale, offset, mean, inverseStandardDeviation, channelSums, channelProductSums, layout)
    }

    public static func winogradFilterTransform(
        _ filter: UnsafePointer<Float>, _ transformed: UnsafeMutablePointer<Float>, outputChannels: Int, channels: Int
    ) {
        winogradFilterKernel(filter, transformed, outputChannels: outputChannels, channels: channels)
    }

    public static func winogradInputTransform(
        _ image: UnsafePointer<Float>, _ transformed: UnsafeMutablePointer<Float>, geometry: ConvolutionGeometry,
        componentStride: Int, channelStride: Int
    ) {
        winogradInputKernel(image, transformed, geometry, componentStride: componentStride, channelStride: channelStride)
    }

    public static func winogradOutputTransform(
        _ products: UnsafePointer<Float>, _ image: UnsafeMutablePointer<Float>, outputChannels: Int, outputHeight: Int,
        outputWidth: Int, componentStride: Int, channelStride: Int, bias: UnsafePointer<Float>?
    ) {
        winogradOutputKernel(
            products, image, outputChannels: outputChannels, outputHeight: outputHeight, outputWidth: outputWidth,
            componentStride: componentStride, channelStride: channelStride, bias: bias)
    }

    public static func sumPool2d(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        planes: Int, height: Int, width: Int, window: Int, scale: Float
    ) {
        sumPoolKernel(input, output, planes: planes, height: height, width: width, window: window, scale: scale)
    }

    public static func upsampleNearest2d(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        planes: Int, height: Int, width: Int, factor: Int, scale: Float
    ) {
        upsampleNearestKernel(input, output, planes: planes, height: height, width: width, factor: factor, scale: scale)
    }
}

extension Double {
    public static func im2col(
        _ image: UnsafePointer<Double>, _ columns: UnsafeMutablePointer<Double>, geometry: ConvolutionGeometry, leadingDimension: Int
    ) {
        im2colKernel(image, columns, geometry, leadingDimension: leadingDimension)
    }

    public static func col2im(
        _ columns: UnsafePointer<Double>, _ image: UnsafeMutablePointer<Double>, geometry: ConvolutionGeometry, leadingDimension: Int
    ) {
        col2imKernel(columns, image, geometry, leadingDimension: leadingDimension)
    }

    public static func groupNormForward(
        _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, scale: UnsafePointer<Double>, offset: UnsafePointer<Double>,
        mean: UnsafeMutablePointer<Double>, inverseStandardDeviation: UnsafeMutablePointer<Double>,
        layout: GroupNormLayout, epsilon: Double
    ) {
        groupNormForwardKernel(x, y, scale, offset, mean, inverseStandardDeviation, layout, epsilon)
    }

    public static func groupNormBackward(
        _ x: UnsafePointer<Double>, _ dy: UnsafePointer<Double>, _ dx: UnsafeMutablePointer<Double>?,
        scale: UnsafePointer<Double>, mean: UnsafePointer<Double>, inverseStandardDeviation: UnsafePointer<Double>,
        channelSums: UnsafeMutablePointer<Double>, channelProductSums: UnsafeMutablePointer<Double>,
        layout: GroupNormLayout
    ) {
        groupNormBackwardKernel(x, dy, dx, scale, mean, inverseStandardDeviation, channelSums, channelProductSums, layout)
    }

    public static func groupNormSiLUForward(
        _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, scale: UnsafePointer<Double>, offset: UnsafePointer<Double>,
        mean: UnsafeMutablePointer<Double>, inverseStandardDeviation: UnsafeMutablePointer<Double>,
        layout: GroupNormLayout, epsilon: Double
    ) {
        groupNormSiLUForwardKernel(x, y, scale, offset, mean, inverseStandardDeviation, layout, epsilon)
    }

    public static func groupNormSiLUBackward(
        _ x: UnsafePointer<Double>, _ dy: UnsafePointer<Double>, _ dx: UnsafeMutablePointer<Double>?,
        scale: UnsafePointer<Double>, offset: UnsafePointer<Double>, mean: UnsafePointer<Double>,
        inverseStandardDeviation: UnsafePointer<Double>, channelSums: UnsafeMutablePointer<Double>,
        channelProductSums: UnsafeMutablePointer<Double>, layout: GroupNormLayout
    ) {
        groupNormSiLUBackwardKernel(
            x, dy, dx, scale, offset, mean, inverseStandardDeviation, channelSums, channelProductSums, layout)
    }

    public static func winogradFilterTransform(
        _ filter: UnsafePointer<Double>, _ transformed: UnsafeMutablePointer<Double>, outputChannels: Int, channels: Int
    ) {
        winogradFilterKernel(filter, transformed, outputChannels: outputChannels, channels: channels)
    }

    public static func winogradInputTransform(
        _ image: UnsafePointer<Double>, _ transformed: UnsafeMutablePointer<Double>, geometry: ConvolutionGeometry,
        componentStride: Int, channelStride: Int
    ) {
        winogradInputKernel(image, transformed, geometry, componentStride: componentStride, channelStride: channelStride)
    }

    public static func winogradOutputTransform(
        _ products: UnsafePointer<Double>, _ image: UnsafeMutablePointer<Double>, outputChannels: Int, outputHeight: Int,
        outputWidth: Int, componentStride: Int, channelStride: Int, bias: UnsafePointer<Double>?
    ) {
        winogradOutputKernel(
            products, image, outputChannels: outputChannels, outputHeight: outputHeight, outputWidth: outputWidth,
            componentStride: componentStride, channelStride: channelStride, bias: bias)
    }

    public static func sumPool2d(
        _ input: UnsafePointer<Double>, _ output: UnsafeMutablePointer<Double>,
        planes: Int, height: Int, width: Int, window: Int, scale: Double
    ) {
        sumPoolKernel(input, output, planes: planes, height: height, width: width, window: window, scale: scale)
    }

    public static func upsampleNearest2d(
        _ input: UnsafePointer<Double>, _ output: UnsafeMutablePointer<Double>,
        planes: Int, height: Int, width: Int, factor: Int, scale: Double
    ) {
        upsampleNearestKernel(input, output, planes: planes, height: height, width: width, factor: factor, scale: scale)
    }
}
