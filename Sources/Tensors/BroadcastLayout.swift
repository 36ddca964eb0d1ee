/// The loop nest of an element-wise operation on two broadcast operands.
///
/// Dimensions where both operands advance contiguously are merged, and dimensions of
/// size 1 dropped, so most operations run as one or two loops. A stride of 0 repeats an
/// operand along that dimension.
public struct BroadcastLayout: Sendable {
    /// The extents of the merged loop nest, outermost first; never empty.
    public var extents: [Int]
    public var lhsStrides: [Int]
    public var rhsStrides: [Int]

    public var count: Int { extents.reduce(1, *) }

    /// Builds the layout of `lhsShape op rhsShape` under NumPy broadcasting, or returns
    /// `nil` when the shapes do not broadcast.
    public init?(lhsShape: [Int], rhsShape: [Int]) {
        guard let outputShape = broadcastShape(lhsShape, rhsShape) else { return nil }
        let rank = outputShape.count
        let lhs = Array(repeating: 1, count: rank - lhsShape.count) + lhsShape
        let rhs = Array(repeating: 1, count: rank - rhsShape.count) + rhsShape

        var extents: [Int] = []
        var lhsStrides: [Int] = []
        var rhsStrides: [Int] = []
        var lhsStride = 1
        var rhsStride = 1
        for axis in stride(from: rank - 1, through: 0, by: -1) {
            let extent = outputShape[axis]
            if extent == 1 { continue }
            let lhsStep = lhs[axis] == 1 ? 0 : lhsStride
            let rhsStep = rhs[axis] == 1 ? 0 : rhsStride
            lhsStride *= lhs[axis]
            rhsStride *= rhs[axis]

            // Merge into the inner dimension when both operands continue it seamlessly.
            if let innerExtent = extents.last,
               lhsStep == lhsStrides.last! * innerExtent,
               rhsStep == rhsStrides.last! * innerExtent {
                extents[extents.count - 1] *= extent
                continue
            }
            extents.append(extent)
            lhsStrides.append(lhsStep)
            rhsStrides.append(rhsStep)
        }
        if extents.isEmpty {
            extents = [1]
            lhsStrides = [1]
            rhsStrides = [1]
        }
        self.extents = extents.reversed()
        self.lhsStrides = lhsStrides.reversed()
        self.rhsStrides = rhsStrides.reversed()
    }
}

/// Returns the NumPy broadcast of two shapes, or `nil` when they do not broadcast.
public func broadcastShape(_ lhs: [Int], _ rhs: [Int]) -> [Int]? {
    let rank = Swift.max(lhs.count, rhs.count)
    var result = [Int](repeating: 1, count: rank)
    for offset in 0..<rank {
        let l = offset < lhs.count ? lhs[lhs.count - 1 - offset] : 1
        let r = offset < rhs.count ? rhs[rhs.count - 1 - offset] : 1
        guard l == r || l == 1 || r == 1 else { return nil }
        result[rank - 1 - offset] = l == 1 ? r : l
    }
    return result
}
