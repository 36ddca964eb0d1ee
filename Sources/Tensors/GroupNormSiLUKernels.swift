// The fused loops of group normalisation followed by SiLU, specialised per scalar type
// through `TensorScalar.groupNormSiLUForward` and `groupNormSiLUBackward`.
//
// The group norm's output z = a_c x + b_c is never stored: the forward pass writes
// SiLU(z) and the pullback recomputes z from x and the statistics. One channel's z lives
// in a scratch row that stays in the L1 cache until the activation reads it, so the fused
// pair makes one pass over memory where group norm and SiLU apart make two.

/// For each (sample n, group g), computes the mean μ and r = 1/√(σ² + ε) as
/// `groupNormForwardKernel` does and writes y = SiLU(z) with z = a_c x + b_c,
/// a_c = γ_c r and b_c = β_c − μ a_c.
@inline(__always)
func groupNormSiLUForwardKernel<T: TensorScalar>(
    _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ scale: UnsafePointer<T>, _ offset: UnsafePointer<T>,
    _ mean: UnsafeMutablePointer<T>, _ inverseStandardDeviation: UnsafeMutablePointer<T>,
    _ layout: GroupNormLayout, _ epsilon: T
) {
    let spatial = layout.spatial
    let groupSize = layout.groupSize
    let z = UnsafeMutablePointer<T>.allocate(capacity: Swift.max(spatial, 1))
    defer { z.deallocate() }

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
                for i in 0..<spatial { z[i] = a * input[i] + b }
                T.apply(.silu, z, y + (n * layout.channels + channel) * spatial, count: spatial)
            }
        }
    }
}

/// Computes the pullback of `groupNormSiLUForwardKernel`. Per channel it recomputes z,
/// writes dz = dy · SiLU′(z) (into dx, or a scratch row when dx is nil) and its sums
/// Σ dz and Σ dz x̂, whose sums over the batch are the offset and scale gradients. Then,
/// as in `groupNormBackwardKernel`, dx = r (γ_c dz − (1/M) Σ γ dz − x̂ (1/M) Σ γ dz x̂)
/// over the group, written over dz in place.
@inline(__always)
func groupNormSiLUBackwardKernel<T: TensorScalar>(
    _ x: UnsafePointer<T>, _ dy: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>?,
    _ scale: UnsafePointer<T>, _ offset: UnsafePointer<T>, _ mean: UnsafePointer<T>,
    _ inverseStandardDeviation: UnsafePointer<T>, _ channelSums: UnsafeMutablePointer<T>,
    _ channelProductSums: UnsafeMutablePointer<T>, _ layout: GroupNormLayout
) {
    let spatial = layout.spatial
    // z, then dz when there is no dx to hold it.
    let scratch = UnsafeMutablePointer<T>.allocate(capacity: Swift.max(2 * spatial, 1))
    defer { scratch.deallocate() }
    let (z, scratchCotangent) = (scratch, scratch + spatial)
    let rowLayout = BroadcastLayout(lhsShape: [spatial], rhsShape: [spatial])!

    for n in 0..<layout.batch {
        for group in 0..<layout.groups {
            let mu = mean[n * layout.groups + group]
            let r = inverseStandardDeviation[n * layout.groups + group]
            let channels = (group * layout.channelsPerGroup)..<((group + 1) * layout.channelsPerGroup)

            var scaledSum: T = 0
            var scaledProductSum: T = 0
            for channel in channels {
                let rowOffset = (n * layout.channels + channel) * spatial
                let a = scale[channel] * r
                let b = offset[channel] - mu * a
                let input = x + rowOffset
                for i in 0..<spatial { z[i] = a * input[i] + b }
                let dz = dx.map { $0 + rowOffset } ?? scratchCotangent
                T.apply(.siluBackward, z, dy + rowOffset, dz, layout: rowLayout)

                let (sumDz, sumDzX) = sumsOfCotangent(dz, input, count: spatial)
                let sumDzNormalized = r * (sumDzX - mu * sumDz)
                channelSums[n * layout.channels + channel] = sumDz
                channelProductSums[n * layout.channels + channel] = sumDzNormalized
                scaledSum += scale[channel] * sumDz
                scaledProductSum += scale[channel] * sumDzNormalized
            }

            // dz is already in dx, so the cotangent is read from dx and overwritten in place.
            guard let dx else { continue }
            writeGroupInputCotangent(
                x, cotangent: UnsafePointer(dx), dx, scale: scale, mean: mu, inverseStandardDeviation: r, scaledSum: scaledSum,
                scaledProductSum: scaledProductSum, sample: n, channels: channels, layout: layout)
        }
    }
}
