// Two-dimensional convolution and transposed convolution of NCHW images.

/// Returns the cross-correlation of images with a bank of filters, plus a bias:
///
///     y[n, o, i, j] = bias[o] + Σ_{c, a, b} filter[o, c, a, b] · x[n, c, i·s − p + a, j·s − p + b],
///
/// with `s` the stride, `p` the zero padding and pixels outside the image equal to zero
/// (PyTorch's `conv2d`).
///
/// - Parameters:
///   - input: images `[N, C, H, W]`.
///   - filter: `[O, C, kH, kW]`.
///   - bias: `[O]`, or nil for none.
/// - Returns: `[N, O, Hout, Wout]` with `Hout = (H + 2·padding − kH) / stride + 1` and
///   likewise `Wout`, rounding down.
public func conv2d<S>(_ input: Tensor<S>, filter: Tensor<S>, bias: Tensor<S>?, stride: Int = 1, padding: Int = 0) -> Tensor<S> {
    let geometry = conv2dGeometry(input.shape, filter.shape, bias?.shape, stride: stride, padding: padding)
    let outputChannels = filter.shape[0]
    return convolutionForward(input, filter: filter, bias: bias, outputChannels: outputChannels, geometry: geometry)
}

/// Differentiable `conv2d`. The pullback of `dy` is `convTranspose2d(dy, filter)` for the
/// input, `Σ_n dy_n im2col(x_n)ᵀ` for the filter and the sum of `dy` over all axes but
/// the channels for the bias.
public func conv2d<S>(_ input: Variable<S>, filter: Variable<S>, bias: Variable<S>?, stride: Int = 1, padding: Int = 0) -> Variable<S> {
    let (x, w) = (input.value, filter.value)
    let geometry = conv2dGeometry(x.shape, w.shape, bias?.value.shape, stride: stride, padding: padding)
    let outputChannels = w.shape[0]
    let value = convolutionForward(x, filter: w, bias: bias?.value, outputChannels: outputChannels, geometry: geometry)

    let (inputNeedsGradient, filterNeedsGradient) = (input.requiresGrad, filter.requiresGrad)
    let biasNeedsGradient = bias?.requiresGrad
    let parents = [input, filter] + (bias.map { [$0] } ?? [])
    return Variable(value: value, parents: parents) { dy in
        var cotangents: [Tensor<S>?] = [
            inputNeedsGradient
                ? convolutionAdjoint(dy, filter: w, bias: nil, outputChannels: outputChannels, geometry: geometry) : nil,
            filterNeedsGradient
                ? convolutionFilterGradient(x, cotangent: dy, outputChannels: outputChannels, geometry: geometry)
                    .reshaped(to: w.shape)
                : nil,
        ]
        if let biasNeedsGradient { cotangents.append(biasNeedsGradient ? channelSums(dy) : nil) }
        return cotangents
    }
}

/// Returns the transposed convolution of images, plus a bias: the adjoint of `conv2d`
/// with respect to its input, so that ⟨conv2d(u, W), v⟩ = ⟨u, convTranspose2d(v, W)⟩
/// without biases (PyTorch's `conv_transpose2d`). Each input pixel scatters
/// `x[n, i, h, w] · filter[i, o, ·, ·]` onto the output window at `(h·s − p, w·s − p)`.
///
/// - Parameters:
///   - input: images `[N, Cin, H, W]`.
///   - filter: `[Cin, Cout, kH, kW]`, the layout of the `conv2d` filter it is the adjoint of.
///   - bias: `[Cout]`, or nil for none.
///   - outputPadding: extra rows and columns at the bottom and right, in `0..<stride`.
///     Several input sizes map to `H` under a strided `conv2d`, and this picks one.
/// - Returns: `[N, Cout, Hout, Wout]` with `Hout = (H − 1)·stride − 2·padding + kH + outputPadding`
///   and likewise `Wout`.
public func convTranspose2d<S>(
    _ input: Tensor<S>, filter: Tensor<S>, bias: Tensor<S>?, stride: Int = 1, padding: Int = 0, outputPadding: Int = 0
) -> Tensor<S> {
    let geometry = convTranspose2dGeometry(
        input.shape, filter.shape, bias?.shape, stride: stride, padding: padding, outputPadding: outputPadding)
    return convolutionAdjoint(input, filter: filter, bias: bias, outputChannels: filter.shape[0], geometry: geometry)
}

/// Differentiable `convTranspose2d`. The pullback of `dy` is `conv2d(dy, filter)` for the
/// input, `Σ_n x_n im2col(dy_n)ᵀ` for the filter and the sum of `dy` over all axes but
/// the channels for the bias.
public func convTranspose2d<S>(
    _ input: Variable<S>, filter: Variable<S>, bias: Variable<S>?, stride: Int = 1, padding: Int = 0, outputPadding: Int = 0
) -> Variable<S> {
    let (x, w) = (input.value, filter.value)
    let geometry = convTranspose2dGeometry(
        x.shape, w.shape, bias?.value.shape, stride: stride, padding: padding, outputPadding: outputPadding)
    let inputChannels = w.shape[0]
    let value = convolutionAdjoint(x, filter: w, bias: bias?.value, outputChannels: inputChannels, geometry: geometry)

    let (inputNeedsGradient, filterNeedsGradient) = (input.requiresGrad, filter.requiresGrad)
    let biasNeedsGradient = bias?.requiresGrad
    let parents = [input, filter] + (bias.map { [$0] } ?? [])
    return Variable(value: value, parents: parents) { dy in
        var cotangents: [Tensor<S>?] = [
            inputNeedsGradient
                ? convolutionForward(dy, filter: w, bias: nil, outputChannels: inputChannels, geometry: geometry) : nil,
            filterNeedsGradient
                ? convolutionFilterGradient(dy, cotangent: x, outputChannels: inputChannels, geometry: geometry)
                    .reshaped(to: w.shape)
                : nil,
        ]
        if let biasNeedsGradient { cotangents.append(biasNeedsGradient ? channelSums(dy) : nil) }
        return cotangents
    }
}

/// Checks the shapes of a `conv2d` and returns the geometry of its images.
func conv2dGeometry(_ input: [Int], _ filter: [Int], _ bias: [Int]?, stride: Int, padding: Int) -> ConvolutionGeometry {
    precondition(input.count == 4, "conv2d: input of shape \(input) must be [N, C, H, W]")
    precondition(filter.count == 4, "conv2d: filter of shape \(filter) must be [O, C, kH, kW]")
    precondition(
        input[1] == filter[1],
        "conv2d: input \(input) has \(input[1]) channels but filter \(filter) expects \(filter[1]) (filter is [O, C, kH, kW])")
    if let bias {
        precondition(bias == [filter[0]], "conv2d: bias of shape \(bias) must be [\(filter[0])] for filter \(filter)")
    }
    precondition(stride >= 1, "conv2d: stride \(stride) must be at least 1")
    precondition(padding >= 0, "conv2d: padding \(padding) must not be negative")
    precondition(
        input[2] + 2 * padding >= filter[2] && input[3] + 2 * padding >= filter[3],
        "conv2d: filter \(filter) is larger than input \(input) with padding \(padding); need H + 2·padding ≥ kH and W + 2·padding ≥ kW")
    return ConvolutionGeometry(
        channels: input[1], height: input[2], width: input[3], kernelHeight: filter[2], kernelWidth: filter[3],
        stride: stride, padding: padding)
}

/// Checks the shapes of a `convTranspose2d` and returns the geometry of the `conv2d`
/// it is the adjoint of, whose images are the transposed convolution's outputs.
func convTranspose2dGeometry(
    _ input: [Int], _ filter: [Int], _ bias: [Int]?, stride: Int, padding: Int, outputPadding: Int
) -> ConvolutionGeometry {
    precondition(input.count == 4, "convTranspose2d: input of shape \(input) must be [N, Cin, H, W]")
    precondition(filter.count == 4, "convTranspose2d: filter of shape \(filter) must be [Cin, Cout, kH, kW]")
    precondition(
        input[1] == filter[0],
        "convTranspose2d: input \(input) has \(input[1]) channels but filter \(filter) expects \(filter[0]) (filter is [Cin, Cout, kH, kW])")
    if let bias {
        precondition(bias == [filter[1]], "convTranspose2d: bias of shape \(bias) must be [\(filter[1])] for filter \(filter)")
    }
    precondition(stride >= 1, "convTranspose2d: stride \(stride) must be at least 1")
    precondition(padding >= 0, "convTranspose2d: padding \(padding) must not be negative")
    precondition(
        outputPadding >= 0 && outputPadding < stride,
        "convTranspose2d: outputPadding \(outputPadding) must be in 0..<stride (stride \(stride))")

    let outputHeight = (input[2] - 1) * stride - 2 * padding + filter[2] + outputPadding
    let outputWidth = (input[3] - 1) * stride - 2 * padding + filter[3] + outputPadding
    precondition(
        input[2] >= 1 && input[3] >= 1 && outputHeight >= 1 && outputWidth >= 1,
        "convTranspose2d: output size \(outputHeight)×\(outputWidth) for input \(input), filter \(filter), stride \(stride), padding \(padding) is not positive; Hout = (H − 1)·stride − 2·padding + kH + outputPadding")
    let geometry = ConvolutionGeometry(
        channels: filter[1], height: outputHeight, width: outputWidth, kernelHeight: filter[2], kernelWidth: filter[3],
        stride: stride, padding: padding)
    assert(geometry.outputHeight == input[2], "convTranspose2d: adjoint geometry has the wrong height")
    assert(geometry.outputWidth == input[3], "convTranspose2d: adjoint geometry has the wrong width")
    return geometry
}
