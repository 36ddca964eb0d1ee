// The fused forward and backward loops of group normalisation, specialised per scalar
// type through `TensorScalar.groupNormForward` and `groupNormBackward`.

/// A tensor `[batch, channels, spatial]` split into `groups` groups of consecutive channels.
public struct GroupNormLayout: Sendable, Equatable {
    public var batch: Int
    public var channels: Int
    public var groups: Int
    /// The product of the spatial extents (1 for a rank-2 tensor).
    public var spatial: Int

    public init(batch: Int, channels: Int, groups: Int, spatial: Int) {
        self.batch = batch
        self.channels = channels
        self.groups = groups
        self.spatial = spatial
    }

    public var channelsPerGroup: Int { channels / groups }
    /// The elements that share one mean and variance: `channelsPerGroup · spatial`.
    public var groupSize: Int { channelsPerGroup * spatial }
}

/// Returns Σ x[i] over `count` contiguous elements, with four accumulators.
@inline(__always)
func sumOfElements<T: TensorScalar>(_ x: UnsafePointer<T>, count: Int) -> T {
    var s0: T = 0, s1: T = 0, s2: T = 0, s3: T = 0
    var i = 0
    while i + 4 <= count {
        s0 += x[i]
        s1 += x[i + 1]
        s2 += x[i + 2]
        s3 += x[i + 3]
        i += 4
    }
    while i < count {
        s0 += x[i]
        i += 1
    }
    return (s0 + s1) + (s2 + s3)
}

/// Returns Σ (x[i] − center)² over `count` contiguous elements.
@inline(__always)
func sumOfSquaredDeviations<T: TensorScalar>(_ x: UnsafePointer<T>, count: Int, center: T) -> T {
    var s0: T = 0, s1: T = 0, s2: T = 0, s3: T = 0
    var i = 0
    while i + 4 <= count {
        let d0 = x[i] - center, d1 = x[i + 1] - center
        let d2 = x[i + 2] - center, d3 = x[i + 3] - center
        s0 += d0 * d0
        s1 += d1 * d1
        s2 += d2 * d2
        s3 += d3 * d3
        i += 4
    }
    while i < count {
        let d = x[i] - center
        s0 += d * d
        i += 1
    }
    return (s0 + s1) + (s2 + s3)
}

/// Returns (Σ dy[i], Σ dy[i] · x[i]) over `count` contiguous elements.
@inline(__always)
func sumsOfCotangent<T: TensorScalar>(_ dy: UnsafePointer<T>, _ x: UnsafePointer<T>, count: Int) -> (T, T) {
    var a0: T = 0, a1: T = 0, b0: T = 0, b1: T = 0
    var i = 0
    while i + 2 <= count {
        a0 += dy[i]
        a1 += dy[i + 1]
        b0 += dy[i] * x[i]
        b1 += dy[i + 1] * x[i + 1]
        i += 2
    }
    if i < count {
        a0 += dy[i]
        b0 += dy[i] * x[i]
    }
    return (a0 + a1, b0 + b1)
}

/// Returns the mean μ of `count` values and r = 1/√(σ² + ε), with σ² the mean squared
/// deviation from μ (two passes, which stay accurate in Float when |μ| ≫ σ).
@inline(__always)
func groupStatistics<T: TensorScalar>(_ x: UnsafePointer<T>, count: Int, epsilon: T) -> (mean: T, inverseStandardDeviation: T) {
    let mu = sumOfElements(x, count: count) / T(count)
    let variance = sumOfSquaredDeviations(x, count: count, center: mu) / T(count)
    return (mu, 1 / (variance + epsilon).squareRoot())
}

/// Writes the group norm's input cotangent for one (sample, group), expanding x̂ = (x − μ) r:
///
///     dx = r γ_c g + c₁ x + c₀,   c₁ = −r² (1/M) Σ γ g x̂,   c₀ = −r (1/M) Σ γ g − μ c₁,
///
/// where g is the cotangent of the normalised output and the sums are `scaledSum` and
/// `scaledProductSum`. `cotangent` may be `dx` itself, because each element is read once
/// before it is written.
@inline(__always)
func writeGroupInputCotangent<T: TensorScalar>(
    _ x: UnsafePointer<T>, cotangent: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, scale: UnsafePointer<T>, mean mu: T,
    inverseStandardDeviation r: T, scaledSum: T, scaledProductSum: T, sample n: Int, channels: Range<Int>,
    layout: GroupNormLayout
) {
    let spatial = layout.spatial
    let inverseGroupSize = 1 / T(layout.groupSize)
    let c1 = -r * r * scaledProductSum * inverseGroupSize
    let c0 = -r * scaledSum * inverseGroupSize - mu * c1
    for channel in channels {
        let offset = (n * layout.channels + channel) * spatial
        let a = r * scale[channel]
        let (input, rowCotangent, output) = (x + offset, cotangent + offset, dx + offset)
        for i in 0..<spatial { output[i] = a * rowCotangent[i] + c1 * input[i] + c0 }
    }
}

/// For each (sample n, group g) with mean μ and biased variance σ² over the group's
/// channels and positions, writes y = γ_c (x − μ) / √(σ² + ε) + β_c, computed as
/// y = a_c x + b_c with a_c = γ_c / √(σ² + ε) and b_c = β_c − μ a_c.
///
/// The variance is the mean squared deviation from μ (two passes), which stays accurate
/// in Float when |μ| ≫ σ.
@inline(__always)
func groupNormForwardKernel<T: TensorScalar>(
    _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ scale: UnsafePointer<T>, _ offset: UnsafePointer<T>,
    _ mean: UnsafeMutablePointer<T>, _ inverseStandardDeviation: UnsafeMutablePointer<T>,
    _ layout: GroupNormLayout, _ epsilon: T
) {
    let spatial = layout.spatial
    let groupSize = layout.groupSize
    for n in 0..<layout.batch {
        for group in 0..<layout.groups {
            let firstChannel = group * layout.channelsPerGroup
            let base = (n * layout.channels + firstChannel) * spatial
            let (mu, inverse) = groupStatistics(x + base, count: groupSize, epsilon: epsilon)
            mean[n * layout.groups + group] = mu
            inverseStandardDeviation[n * layout.groups + group] = inverse

            for channel in firstChannel..<(firstChannel + layout.channelsPerGroup) {
                let a = scale[channel] * inverse
                let b = offset[channel] - mu * a
                let input = x + (n * layout.channels + channel) * spatial
                let output = y + (n * layout.channels + channel) * spatial
                for i in 0..<spatial { output[i] = a * input[i] + b }
            }
        }
    }
}

/// Computes the pullback of group normalisation. With x̂ = (x − μ) r, r = 1/√(σ² + ε)
/// and M the group size, the cotangent of x is
///
///     dx = r (γ_c dy − (1/M) Σ γ dy − x̂ (1/M) Σ γ dy x̂),
///
/// the sums running over the group. Per (sample, channel) it writes Σ dy and
/// Σ dy x̂ = r (Σ dy x − μ Σ dy), whose sums over the batch are the offset and scale
/// gradients. Two passes over the data: one for the sums, one for dx.
@inline(__always)
func groupNormBackwardKernel<T: TensorScalar>(
    _ x: UnsafePointer<T>, _ dy: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>?,
    _ scale: UnsafePointer<T>, _ mean: UnsafePointer<T>, _ inverseStandardDeviation: UnsafePointer<T>,
    _ channelSums: UnsafeMutablePointer<T>, _ channelProductSums: UnsafeMutablePointer<T>,
    _ layout: GroupNormLayout
) {
    let spatial = layout.spatial
    for n in 0..<layout.batch {
        for group in 0..<layout.groups {
            let mu = mean[n * layout.groups + group]
            let r = inverseStandardDeviation[n * layout.groups + group]
            let channels = (group * layout.channelsPerGroup)..<((group + 1) * layout.channelsPerGroup)

            var scaledSum: T = 0
            var scaledProductSum: T = 0
            for channel in channels {
                let offset = (n * layout.channels + channel) * spatial
                let (sumDy, sumDyX) = sumsOfCotangent(dy + offset, x + offset, count: spatial)
                let sumDyNormalized = r * (sumDyX - mu * sumDy)
                channelSums[n * layout.channels + channel] = sumDy
                channelProductSums[n * layout.channels + channel] = sumDyNormalized
                scaledSum += scale[channel] * sumDy
                scaledProductSum += scale[channel] * sumDyNormalized
            }

            guard let dx else { continue }
            writeGroupInputCotangent(
                x, cotangent: dy, dx, scale: scale, mean: mu, inverseStandardDeviation: r, scaledSum: scaledSum,
                scaledProductSum: scaledProductSum, sample: n, channels: channels, layout: layout)
        }
    }
}
