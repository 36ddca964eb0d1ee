import Foundation

// Element loops shared by the Float and Double conformances. They are generic, and each
// conformance calls them with its concrete type, so the optimiser specialises and
// vectorises every loop once per scalar type.

@inline(__always)
func applyUnary<T: TensorScalar>(
    _ function: UnaryFunction, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count n: Int,
    tanh fastTanh: (T) -> T
) {
    switch function {
    case .negate: for i in 0..<n { y[i] = -x[i] }
    case .exp: for i in 0..<n { y[i] = T.exp(x[i]) }
    case .log: for i in 0..<n { y[i] = T.log(x[i]) }
    case .sqrt: for i in 0..<n { y[i] = x[i].squareRoot() }
    case .reciprocal: for i in 0..<n { y[i] = 1 / x[i] }
    case .square: for i in 0..<n { y[i] = x[i] * x[i] }
    case .abs: for i in 0..<n { y[i] = Swift.abs(x[i]) }
    case .tanh: for i in 0..<n { y[i] = fastTanh(x[i]) }
    // σ(x) = ½ (1 + tanh(x/2)), which vectorises where exp does not.
    case .sigmoid: for i in 0..<n { y[i] = 0.5 + 0.5 * fastTanh(0.5 * x[i]) }
    case .silu: for i in 0..<n { y[i] = x[i] * (0.5 + 0.5 * fastTanh(0.5 * x[i])) }
    case .relu: for i in 0..<n { y[i] = x[i] > 0 ? x[i] : 0 }
    // softplus(x) = max(x, 0) + log(1 + exp(-|x|)), stable for large |x|.
    case .softplus: for i in 0..<n { y[i] = Swift.max(x[i], 0) + T.log(1 + T.exp(-Swift.abs(x[i]))) }
    case .sin: for i in 0..<n { y[i] = T.sin(x[i]) }
    case .cos: for i in 0..<n { y[i] = T.cos(x[i]) }
    }
}

@inline(__always)
func applyBinary<T: TensorScalar>(
    _ function: BinaryFunction, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ c: UnsafeMutablePointer<T>,
    layout: BroadcastLayout, tanh fastTanh: (T) -> T
) {
    switch function {
    case .add: broadcastLoop(a, b, c, layout, +)
    case .subtract: broadcastLoop(a, b, c, layout, -)
    case .multiply: broadcastLoop(a, b, c, layout, *)
    case .divide: broadcastLoop(a, b, c, layout, /)
    case .maximum: broadcastLoop(a, b, c, layout) { Swift.max($0, $1) }
    case .minimum: broadcastLoop(a, b, c, layout) { Swift.min($0, $1) }
    case .power: broadcastLoop(a, b, c, layout) { T.pow($0, $1) }
    case .reluBackward: broadcastLoop(a, b, c, layout) { x, dy in x > 0 ? dy : 0 }
    case .siluBackward:
        // d/dx [x σ(x)] = σ(x) (1 + x (1 - σ(x))).
        broadcastLoop(a, b, c, layout) { x, dy in
            let s = 0.5 + 0.5 * fastTanh(0.5 * x)
            return dy * s * (1 + x * (1 - s))
        }
    case .sigmoidBackward:
        broadcastLoop(a, b, c, layout) { x, dy in
            let s = 0.5 + 0.5 * fastTanh(0.5 * x)
            return dy * s * (1 - s)
        }
    case .softplusBackward: broadcastLoop(a, b, c, layout) { x, dy in dy * (0.5 + 0.5 * fastTanh(0.5 * x)) }
    case .tanhBackward: broadcastLoop(a, b, c, layout) { y, dy in dy * (1 - y * y) }
    }
}

/// Runs `c = op(a, b)` over the loop nest of `layout`, with the innermost loop
/// specialised for contiguous and repeated operands.
@inline(__always)
func broadcastLoop<T>(
    _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ c: UnsafeMutablePointer<T>,
    _ layout: BroadcastLayout, _ op: (T, T) -> T
) {
    let rank = layout.extents.count
    let inner = layout.extents[rank - 1]
    let aInner = layout.lhsStrides[rank - 1]
    let bInner = layout.rhsStrides[rank - 1]
    let outerCount = layout.count / Swift.max(inner, 1)

    var index = [Int](repeating: 0, count: rank)
    var aOffset = 0
    var bOffset = 0
    var cOffset = 0
    for _ in 0..<outerCount {
        let ap = a + aOffset
        let bp = b + bOffset
        let cp = c + cOffset
        if aInner == 1 && bInner == 1 {
            for i in 0..<inner { cp[i] = op(ap[i], bp[i]) }
        } else if aInner == 1 && bInner == 0 {
            let bv = bp[0]
            for i in 0..<inner { cp[i] = op(ap[i], bv) }
        } else if aInner == 0 && bInner == 1 {
            let av = ap[0]
            for i in 0..<inner { cp[i] = op(av, bp[i]) }
        } else {
            for i in 0..<inner { cp[i] = op(ap[i * aInner], bp[i * bInner]) }
        }
        cOffset += inner

        // Advance the odometer over the outer dimensions.
        var axis = rank - 2
        while axis >= 0 {
            index[axis] += 1
            aOffset += layout.lhsStrides[axis]
            bOffset += layout.rhsStrides[axis]
            if index[axis] < layout.extents[axis] { break }
            aOffset -= layout.lhsStrides[axis] * layout.extents[axis]
            bOffset -= layout.rhsStrides[axis] * layout.extents[axis]
            index[axis] = 0
            axis -= 1
        }
    }
}

/// Writes `(base[i] + scaled[i] · alpha) + added[i]` with one rounding per operation.
/// Swift does not contract a product and a sum into a fused multiply-add, and
/// `testFusedMultiplyAddMatchesSeparateOperations` checks the bits.
@inline(__always)
func multiplyAddKernel<T: TensorScalar>(
    _ base: UnsafePointer<T>, _ scaled: UnsafePointer<T>, alpha: T, _ added: UnsafePointer<T>,
    _ output: UnsafeMutablePointer<T>, count n: Int
) {
    for i in 0..<n { output[i] = (base[i] + scaled[i] * alpha) + added[i] }
}

@inline(__always)
func sumKernel<T: TensorScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, outer: Int, reduced: Int, inner: Int) {
    for o in 0..<outer {
        let out = y + o * inner
        let base = x + o * reduced * inner
        if inner == 1 {
            // Pairwise-free but four-way unrolled accumulation for contiguous sums.
            var s0: T = 0, s1: T = 0, s2: T = 0, s3: T = 0
            var r = 0
            while r + 4 <= reduced {
                s0 += base[r]
                s1 += base[r + 1]
                s2 += base[r + 2]
                s3 += base[r + 3]
                r += 4
            }
            while r < reduced {
                s0 += base[r]
                r += 1
            }
            out[0] = (s0 + s1) + (s2 + s3)
        } else {
            for i in 0..<inner { out[i] = 0 }
            for r in 0..<reduced {
                let row = base + r * inner
                for i in 0..<inner { out[i] += row[i] }
            }
        }
    }
}

@inline(__always)
func maxKernel<T: TensorScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, outer: Int, reduced: Int, inner: Int) {
    for o in 0..<outer {
        let out = y + o * inner
        let base = x + o * reduced * inner
        for i in 0..<inner { out[i] = base[i] }
        for r in 1..<Swift.max(reduced, 1) {
            let row = base + r * inner
            for i in 0..<inner { out[i] = Swift.max(out[i], row[i]) }
        }
    }
}

/// A rational approximation of tanh for Float, within 3.3e-7 of tanh, which vectorises
/// (glibc's `tanhf` does not and costs about 20 times as much per element). It is
/// Eigen's `generic_fast_tanh_float`, a [13/6] minimax fit on [-9, 9] evaluated with
/// fused multiply-adds. Beyond that range tanh is ±1 in Float. The C kernels in
/// element_kernels.h run the same operations on vectors. This copy serves the Swift
/// loops (broadcast operands), where each fused multiply-add is a call to libm's `fmaf`
/// in the baseline build.
@inline(__always)
func fastTanh(_ input: Float) -> Float {
    let x = Swift.min(Swift.max(input, -9), 9)
    let x2 = x * x
    // Each step is one fused multiply-add, p ← p x² + c, as in the C kernels.
    var p: Float = -2.76076847742355e-16
    p = Float(2.00018790482477e-13).addingProduct(p, x2)
    p = Float(-8.60467152213735e-11).addingProduct(p, x2)
    p = Float(5.12229709037114e-08).addingProduct(p, x2)
    p = Float(1.48572235717979e-05).addingProduct(p, x2)
    p = Float(6.37261928875436e-04).addingProduct(p, x2)
    p = Float(4.89352455891786e-03).addingProduct(p, x2)
    p = p * x
    var q: Float = 1.19825839466702e-06
    q = Float(1.18534705686654e-04).addingProduct(q, x2)
    q = Float(2.26843463243900e-03).addingProduct(q, x2)
    q = Float(4.89352518554385e-03).addingProduct(q, x2)
    return p / q
}
