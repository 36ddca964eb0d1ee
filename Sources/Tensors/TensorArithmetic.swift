// Element-wise arithmetic with NumPy broadcasting, and element-wise functions.

/// The minimum number of elements an element-wise operation gives each core. 2¹⁴ Float
/// activations take about 4 µs (AVX-512, AMD EPYC Zen 4), several times the hand-off to
/// a polling helper of `WorkerTeam`, so smaller operations stay on the calling thread.
let elementwiseMinimumChunk = 1 << 14

extension Tensor {
    /// Applies an element-wise function of one argument.
    public func applying(_ function: UnaryFunction) -> Tensor {
        Tensor(shape: shape) { output in
            withUnsafeBufferPointer { input in
                let (source, destination) = (input.baseAddress!, output.baseAddress!)
                parallelChunks(scalarCount, minimumChunk: elementwiseMinimumChunk) { range in
                    Scalar.apply(function, source + range.lowerBound, destination + range.lowerBound, count: range.count)
                }
            }
        }
    }

    /// Applies an element-wise function of two arguments under NumPy broadcasting.
    public func applying(_ function: BinaryFunction, _ other: Tensor) -> Tensor {
        guard let layout = BroadcastLayout(lhsShape: shape, rhsShape: other.shape),
              let outputShape = broadcastShape(shape, other.shape)
        else {
            preconditionFailure("Shapes \(shape) and \(other.shape) do not broadcast")
        }
        return Tensor(shape: outputShape) { output in
            withUnsafeBufferPointer { a in
                other.withUnsafeBufferPointer { b in
                    applyInParallel(function, a.baseAddress!, b.baseAddress!, output.baseAddress!, layout: layout)
                }
            }
        }
    }

    /// Runs `Scalar.apply` on blocks of the outermost loop of `layout`, one per core when
    /// the output is large. The output is contiguous, so block `i..<j` of the outermost
    /// extent writes elements `i · inner..<j · inner`, with `inner` the product of the others.
    private func applyInParallel(
        _ function: BinaryFunction, _ lhs: UnsafePointer<Scalar>, _ rhs: UnsafePointer<Scalar>,
        _ output: UnsafeMutablePointer<Scalar>, layout: BroadcastLayout
    ) {
        let outer = layout.extents[0]
        let inner = layout.count / Swift.max(outer, 1)
        let minimumBlock = Swift.max(1, elementwiseMinimumChunk / Swift.max(inner, 1))
        guard layout.count >= 2 * elementwiseMinimumChunk, outer >= 2 * minimumBlock else {
            Scalar.apply(function, lhs, rhs, output, layout: layout)
            return
        }
        parallelChunks(outer, minimumChunk: minimumBlock) { range in
            var block = layout
            block.extents[0] = range.count
            Scalar.apply(
                function, lhs + range.lowerBound * layout.lhsStrides[0], rhs + range.lowerBound * layout.rhsStrides[0],
                output + range.lowerBound * inner, layout: block)
        }
    }

    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.applying(.add, rhs) }
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.applying(.subtract, rhs) }
    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.applying(.multiply, rhs) }
    public static func / (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.applying(.divide, rhs) }
    public static prefix func - (x: Tensor) -> Tensor { x.applying(.negate) }

    public static func + (lhs: Tensor, rhs: Scalar) -> Tensor { lhs.applying(.add, Tensor(rhs)) }
    public static func - (lhs: Tensor, rhs: Scalar) -> Tensor { lhs.applying(.subtract, Tensor(rhs)) }
    public static func * (lhs: Tensor, rhs: Scalar) -> Tensor { lhs.applying(.multiply, Tensor(rhs)) }
    public static func / (lhs: Tensor, rhs: Scalar) -> Tensor { lhs.applying(.multiply, Tensor(1 / rhs)) }
    public static func + (lhs: Scalar, rhs: Tensor) -> Tensor { Tensor(lhs).applying(.add, rhs) }
    public static func - (lhs: Scalar, rhs: Tensor) -> Tensor { Tensor(lhs).applying(.subtract, rhs) }
    public static func * (lhs: Scalar, rhs: Tensor) -> Tensor { Tensor(lhs).applying(.multiply, rhs) }
    public static func / (lhs: Scalar, rhs: Tensor) -> Tensor { Tensor(lhs).applying(.divide, rhs) }

    /// Adds `other` in place; `other` must broadcast to this tensor's shape.
    public static func += (lhs: inout Tensor, rhs: Tensor) {
        if lhs.shape == rhs.shape {
            lhs.addScaled(rhs, by: 1)
        } else {
            precondition(
                broadcastShape(lhs.shape, rhs.shape) == lhs.shape,
                "+=: shape \(rhs.shape) does not broadcast to the shape \(lhs.shape) of the tensor added to")
            lhs = lhs + rhs
        }
    }

    /// Computes `self += alpha * other` in place for tensors of equal shape (BLAS axpy).
    public mutating func addScaled(_ other: Tensor, by alpha: Scalar) {
        precondition(shape == other.shape, "addScaled: shapes \(shape) and \(other.shape) differ")
        let count = scalarCount
        other.withUnsafeBufferPointer { x in
            withUnsafeMutableBufferPointer { y in
                Scalar.axpy(count: count, alpha: alpha, x: x.baseAddress!, y: y.baseAddress!)
            }
        }
    }

    /// Returns `self + scaled * alpha + added` for three tensors of one shape in one pass
    /// over memory, with the same bits as the three operations one after another.
    ///
    /// An Euler–Maruyama step `y + f h + g ΔW` is this with `scaled = f`, `alpha = h` and
    /// `added = g ΔW`. As three operations, the step would write and read two temporary
    /// tensors.
    public func adding(_ scaled: Tensor, times alpha: Scalar, plus added: Tensor) -> Tensor {
        precondition(
            scaled.shape == shape && added.shape == shape,
            "adding(_:times:plus:): shapes \(shape), \(scaled.shape) and \(added.shape) must be equal")
        return Tensor(shape: shape) { output in
            let (base, product, sum) = (storage.pointer, scaled.storage.pointer, added.storage.pointer)
            let destination = output.baseAddress!
            parallelChunks(scalarCount, minimumChunk: elementwiseMinimumChunk) { range in
                let offset = range.lowerBound
                Scalar.multiplyAdd(
                    base + offset, product + offset, alpha: alpha, sum + offset, destination + offset, count: range.count)
            }
        }
    }

    /// Sums this tensor over the axes that broadcasting expanded from `targetShape`, the
    /// reverse of broadcasting `targetShape` to `shape`.
    public func sumToShape(_ targetShape: [Int]) -> Tensor {
        if shape == targetShape { return self }
        precondition(targetShape.count <= rank, "Cannot reduce shape \(shape) to \(targetShape)")
        let padded = Array(repeating: 1, count: rank - targetShape.count) + targetShape
        var axes: [Int] = []
        for axis in 0..<rank where padded[axis] == 1 && shape[axis] != 1 {
            axes.append(axis)
        }
        for axis in 0..<rank where padded[axis] != 1 {
            precondition(padded[axis] == shape[axis], "Cannot reduce shape \(shape) to \(targetShape)")
        }
        return sum(alongAxes: axes).reshaped(to: targetShape)
    }
}

public func exp<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x.applying(.exp) }
public func log<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x.applying(.log) }
public func sqrt<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x.applying(.sqrt) }
public func tanh<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x.applying(.tanh) }
public func sin<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x.applying(.sin) }
public func cos<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x.applying(.cos) }
public func abs<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x.applying(.abs) }
public func sigmoid<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x.applying(.sigmoid) }
public func silu<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x.applying(.silu) }
public func relu<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x.applying(.relu) }
public func softplus<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x.applying(.softplus) }
public func square<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> { x.applying(.square) }
public func max<Scalar>(_ lhs: Tensor<Scalar>, _ rhs: Tensor<Scalar>) -> Tensor<Scalar> { lhs.applying(.maximum, rhs) }
public func min<Scalar>(_ lhs: Tensor<Scalar>, _ rhs: Tensor<Scalar>) -> Tensor<Scalar> { lhs.applying(.minimum, rhs) }
public func pow<Scalar>(_ lhs: Tensor<Scalar>, _ rhs: Tensor<Scalar>) -> Tensor<Scalar> { lhs.applying(.power, rhs) }
