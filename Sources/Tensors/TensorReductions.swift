// Reductions over axes.

extension Tensor {
    /// Normalises possibly negative axes, rejecting out-of-range and repeated ones.
    func normalizedAxes(_ axes: [Int]) -> [Int] {
        let result = axes.map { $0 < 0 ? $0 + rank : $0 }
        precondition(result.allSatisfy { $0 >= 0 && $0 < rank }, "Axes \(axes) are out of range for rank \(rank)")
        precondition(Set(result).count == result.count, "Axes \(axes) repeat an axis")
        return result.sorted()
    }

    /// Sums over `axes`, keeping them as extents of 1.
    public func sum(alongAxes axes: [Int]) -> Tensor {
        reduce(alongAxes: axes, Scalar.sum)
    }

    /// Takes the maximum over `axes`, keeping them as extents of 1.
    public func max(alongAxes axes: [Int]) -> Tensor {
        reduce(alongAxes: axes, Scalar.max)
    }

    /// Averages over `axes`, keeping them as extents of 1.
    public func mean(alongAxes axes: [Int]) -> Tensor {
        let count = normalizedAxes(axes).reduce(1) { $0 * shape[$1] }
        return sum(alongAxes: axes) * (1 / Scalar(count))
    }

    /// The sum of all elements.
    public func sum() -> Scalar {
        var total: Scalar = 0
        withUnsafeBufferPointer { Scalar.sum($0.baseAddress!, &total, outer: 1, reduced: scalarCount, inner: 1) }
        return total
    }

    /// The mean of all elements.
    public func mean() -> Scalar {
        sum() / Scalar(scalarCount)
    }

    private func reduce(
        alongAxes axes: [Int],
        _ kernel: (UnsafePointer<Scalar>, UnsafeMutablePointer<Scalar>, Int, Int, Int) -> Void
    ) -> Tensor {
        let axes = normalizedAxes(axes)
        var current = self
        // Reduce one contiguous run of axes at a time, innermost first, each as
        // [outer, reduced, inner].
        var remaining = axes
        while let last = remaining.last {
            var first = last
            while let previous = remaining.dropLast(last - first + 1).last, previous == first - 1 {
                first = previous
            }
            remaining.removeLast(last - first + 1)

            let outer = current.shape[..<first].reduce(1, *)
            let reduced = current.shape[first...last].reduce(1, *)
            let inner = current.shape[(last + 1)...].reduce(1, *)
            var newShape = current.shape
            for axis in first...last { newShape[axis] = 1 }
            let input = current
            current = Tensor(shape: newShape) { output in
                input.withUnsafeBufferPointer { x in
                    kernel(x.baseAddress!, output.baseAddress!, outer, reduced, inner)
                }
            }
        }
        return current
    }
}
