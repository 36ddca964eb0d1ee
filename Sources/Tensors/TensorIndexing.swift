// Concatenation, slicing and gathering.

extension Tensor {
    /// Concatenates tensors along `axis`; all other extents must agree.
    public static func concatenate(_ tensors: [Tensor], alongAxis axis: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concatenate: no tensors given")
        let first = tensors[0]
        let axis = axis < 0 ? axis + first.rank : axis
        precondition(axis >= 0 && axis < first.rank, "concatenate: axis \(axis) is out of range for shape \(first.shape)")
        for tensor in tensors {
            precondition(
                tensor.rank == first.rank
                    && (0..<first.rank).allSatisfy { $0 == axis || tensor.shape[$0] == first.shape[$0] },
                "concatenate: shapes \(first.shape) and \(tensor.shape) differ outside axis \(axis)")
        }
        var outputShape = first.shape
        outputShape[axis] = tensors.reduce(0) { $0 + $1.shape[axis] }
        let outer = first.shape[..<axis].reduce(1, *)
        let inner = first.shape[(axis + 1)...].reduce(1, *)
        let outputRow = outputShape[axis] * inner

        return Tensor(shape: outputShape) { output in
            var columnOffset = 0
            for tensor in tensors {
                let row = tensor.shape[axis] * inner
                tensor.withUnsafeBufferPointer { input in
                    for o in 0..<outer {
                        (output.baseAddress! + o * outputRow + columnOffset)
                            .update(from: input.baseAddress! + o * row, count: row)
                    }
                }
                columnOffset += row
            }
        }
    }

    /// Returns the elements whose index along `axis` lies in `range`.
    public func slice(alongAxis axis: Int, _ range: Range<Int>) -> Tensor {
        let axis = axis < 0 ? axis + rank : axis
        precondition(axis >= 0 && axis < rank, "slice: axis \(axis) is out of range for shape \(shape)")
        precondition(
            range.lowerBound >= 0 && range.upperBound <= shape[axis],
            "slice: range \(range) is out of bounds for extent \(shape[axis]) of shape \(shape)")
        var outputShape = shape
        outputShape[axis] = range.count
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        let inputRow = shape[axis] * inner
        let outputRow = range.count * inner
        return Tensor(shape: outputShape) { output in
            withUnsafeBufferPointer { input in
                for o in 0..<outer {
                    (output.baseAddress! + o * outputRow)
                        .update(from: input.baseAddress! + o * inputRow + range.lowerBound * inner, count: outputRow)
                }
            }
        }
    }

    /// Returns the rows (entries along axis 0) at `indices`, in that order; indices may repeat.
    public func gathering(atIndices indices: [Int]) -> Tensor {
        precondition(rank >= 1, "gathering: a rank-0 tensor has no batch axis")
        let row = shape[1...].reduce(1, *)
        for index in indices {
            precondition(index >= 0 && index < shape[0], "gathering: index \(index) is out of bounds for batch size \(shape[0])")
        }
        return Tensor(shape: [indices.count] + shape[1...]) { output in
            withUnsafeBufferPointer { input in
                for (position, index) in indices.enumerated() {
                    (output.baseAddress! + position * row).update(from: input.baseAddress! + index * row, count: row)
                }
            }
        }
    }

    /// Adds the rows of `self` into a zero tensor of batch size `batchSize` at `indices`,
    /// the adjoint of `gathering(atIndices:)`.
    public func scatterAdding(atIndices indices: [Int], batchSize: Int) -> Tensor {
        precondition(rank >= 1 && shape[0] == indices.count, "scatterAdding: \(indices.count) indices for shape \(shape)")
        let row = shape[1...].reduce(1, *)
        var result = Tensor(zeros: [batchSize] + shape[1...])
        result.withUnsafeMutableBufferPointer { output in
            withUnsafeBufferPointer { input in
                for (position, index) in indices.enumerated() {
                    precondition(index >= 0 && index < batchSize, "scatterAdding: index \(index) is out of bounds for batch size \(batchSize)")
                    Scalar.axpy(count: row, alpha: 1, x: input.baseAddress! + position * row, y: output.baseAddress! + index * row)
                }
            }
        }
        return result
    }
}
