// The transforms of Winograd's minimal filtering algorithm F(2×2, 3×3), specialised per
// scalar type through the `TensorScalar` requirements of the same names.
//
// A 2×2 block of outputs of a 3×3 cross-correlation is Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A,
// with g the 3×3 filter, d the 4×4 input tile under the block and
//
//     Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],
//     G  = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],
//     Aᵀ = [1 1 1 0; 0 1 −1 −1].
//
// The 16 products ⊙ summed over input channels are 16 matrix products, which replace the
// 36 multiply–adds per block and channel of the direct form with 16.

/// Writes `U[ξ, o, c] = (G g_{o,c} Gᵀ)[ξ / 4, ξ % 4]` for a filter `[O, C, 3, 3]`, as
/// `[16, O, C]`.
@inline(__always)
func winogradFilterKernel<T: TensorScalar>(_ filter: UnsafePointer<T>, _ u: UnsafeMutablePointer<T>, outputChannels: Int, channels: Int) {
    let pairs = outputChannels * channels
    // Writes row i of (G g) Gᵀ from row i of G g, (r0, r1, r2).
    func writeRow(_ i: Int, _ r0: T, _ r1: T, _ r2: T, _ pair: Int) {
        u[(4 * i) * pairs + pair] = r0
        u[(4 * i + 1) * pairs + pair] = (r0 + r1 + r2) / 2
        u[(4 * i + 2) * pairs + pair] = (r0 - r1 + r2) / 2
        u[(4 * i + 3) * pairs + pair] = r2
    }
    for pair in 0..<pairs {
        let g = filter + pair * 9
        let (g0, g1, g2, g3, g4, g5, g6, g7, g8) = (g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8])
        writeRow(0, g0, g1, g2, pair)
        writeRow(1, (g0 + g3 + g6) / 2, (g1 + g4 + g7) / 2, (g2 + g5 + g8) / 2, pair)
        writeRow(2, (g0 - g3 + g6) / 2, (g1 - g4 + g7) / 2, (g2 - g5 + g8) / 2, pair)
        writeRow(3, g6, g7, g8, pair)
    }
}

/// Writes `V[ξ, c, t] = (Bᵀ d_{c,t} B)[ξ / 4, ξ % 4]` for every channel `c` and 2×2 output
/// block `t` (row-major over the blocks) of one image with geometry `g` (3×3, stride 1,
/// padding 1), at `v + ξ · componentStride + c · channelStride + t`.
@inline(__always)
func winogradInputKernel<T: TensorScalar>(
    _ image: UnsafePointer<T>, _ v: UnsafeMutablePointer<T>, _ g: ConvolutionGeometry,
    componentStride: Int, channelStride: Int
) {
    let (height, width) = (g.height, g.width)
    let (tilesY, tilesX) = ((g.outputHeight + 1) / 2, (g.outputWidth + 1) / 2)
    // Input columns −1 ..< 2 tilesX + 1, stored from index 0, zero outside the image.
    let paddedWidth = 2 * tilesX + 2
    let scratch = UnsafeMutablePointer<T>.allocate(capacity: 8 * paddedWidth)
    defer { scratch.deallocate() }
    let (rows, transformed) = (scratch, scratch + 4 * paddedWidth)

    for channel in 0..<g.channels {
        let plane = image + channel * height * width
        for ty in 0..<tilesY {
            for r in 0..<4 {
                let y = 2 * ty - 1 + r
                let row = rows + r * paddedWidth
                if y >= 0 && y < height {
                    row[0] = 0
                    (row + 1).update(from: plane + y * width, count: width)
                    (row + 1 + width).update(repeating: 0, count: paddedWidth - 1 - width)
                } else {
                    row.update(repeating: 0, count: paddedWidth)
                }
            }

            // Bᵀ d on whole rows of tiles.
            let (d0, d1, d2, d3) = (rows, rows + paddedWidth, rows + 2 * paddedWidth, rows + 3 * paddedWidth)
            let (t0, t1, t2, t3) = (
                transformed, transformed + paddedWidth, transformed + 2 * paddedWidth, transformed + 3 * paddedWidth
            )
            for i in 0..<paddedWidth {
                t0[i] = d0[i] - d2[i]
                t1[i] = d1[i] + d2[i]
                t2[i] = d2[i] - d1[i]
                t3[i] = d1[i] - d3[i]
            }

            // (Bᵀ d) B, tile by tile, one row of Bᵀ d at a time.
            let firstTile = channel * channelStride + ty * tilesX
            for i in 0..<4 {
                let t = transformed + i * paddedWidth
                let v0 = v + 4 * i * componentStride + firstTile
                let (v1, v2, v3) = (v0 + componentStride, v0 + 2 * componentStride, v0 + 3 * componentStride)
                for tx in 0..<tilesX {
                    let (a, b, c, d) = (t[2 * tx], t[2 * tx + 1], t[2 * tx + 2], t[2 * tx + 3])
                    v0[tx] = a - c
                    v1[tx] = b + c
                    v2[tx] = c - b
                    v3[tx] = b - d
                }
            }
        }
    }
}

/// Writes the output image `[O, outputHeight, outputWidth]` as `Aᵀ M A` of the products
/// `M[ξ, o, t]` at `m + ξ · componentStride + o · channelStride + t`, plus `bias[o]` when
/// given. Blocks that reach past an odd-sized output keep only their pixels inside it.
@inline(__always)
func winogradOutputKernel<T: TensorScalar>(
    _ m: UnsafePointer<T>, _ image: UnsafeMutablePointer<T>, outputChannels: Int, outputHeight: Int, outputWidth: Int,
    componentStride: Int, channelStride: Int, bias: UnsafePointer<T>?
) {
    let (tilesY, tilesX) = ((outputHeight + 1) / 2, (outputWidth + 1) / 2)
    let fullColumns = outputWidth / 2
    for o in 0..<outputChannels {
        let b = bias?[o] ?? 0
        let plane = image + o * outputHeight * outputWidth
        for ty in 0..<tilesY {
            let products = m + o * channelStride + ty * tilesX
            let top = plane + 2 * ty * outputWidth
            let bottom = 2 * ty + 1 < outputHeight ? top + outputWidth : nil
            let (p0, p1, p2, p3) = (products, products + componentStride, products + 2 * componentStride, products + 3 * componentStride)
            let (p4, p5, p6, p7) = (p0 + 4 * componentStride, p1 + 4 * componentStride, p2 + 4 * componentStride, p3 + 4 * componentStride)
            let (p8, p9, p10, p11) = (p4 + 4 * componentStride, p5 + 4 * componentStride, p6 + 4 * componentStride, p7 + 4 * componentStride)
            let (p12, p13, p14, p15) = (p8 + 4 * componentStride, p9 + 4 * componentStride, p10 + 4 * componentStride, p11 + 4 * componentStride)
            for tx in 0..<tilesX {
                // Aᵀ M, two rows of four.
                let s00 = p0[tx] + p4[tx] + p8[tx], s01 = p1[tx] + p5[tx] + p9[tx]
                let s02 = p2[tx] + p6[tx] + p10[tx], s03 = p3[tx] + p7[tx] + p11[tx]
                let s10 = p4[tx] - p8[tx] - p12[tx], s11 = p5[tx] - p9[tx] - p13[tx]
                let s12 = p6[tx] - p10[tx] - p14[tx], s13 = p7[tx] - p11[tx] - p15[tx]
                // (Aᵀ M) A.
                top[2 * tx] = s00 + s01 + s02 + b
                if tx < fullColumns { top[2 * tx + 1] = s01 - s02 - s03 + b }
                if let bottom {
                    bottom[2 * tx] = s10 + s11 + s12 + b
                    if tx < fullColumns { bottom[2 * tx + 1] = s11 - s12 - s13 + b }
                }
            }
        }
    }
}
