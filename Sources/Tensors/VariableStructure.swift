// Differentiable reductions, products and shape operations.

extension Variable {
    /// Sums over `axes`, keeping them as extents of 1; the pullback broadcasts back.
    public func sum(alongAxes axes: [Int]) -> Variable {
        let inputShape = shape
        return Variable(value: value.sum(alongAxes: axes), parents: [self]) { dy in
            [Tensor(zeros: inputShape) + dy]
        }
    }

    /// The sum of all elements, as a rank-0 variable.
    public func sum() -> Variable {
        let inputShape = shape
        return Variable(value: Tensor(value.sum()), parents: [self]) { dy in
            [Tensor(shape: inputShape, repeating: dy.scalar)]
        }
    }

    /// The mean of all elements, as a rank-0 variable.
    public func mean() -> Variable {
        sum() * (1 / Scalar(value.scalarCount))
    }

    /// Averages over `axes`, keeping them as extents of 1.
    public func mean(alongAxes axes: [Int]) -> Variable {
        let count = value.normalizedAxes(axes).reduce(1) { $0 * shape[$1] }
        return sum(alongAxes: axes) * (1 / Scalar(count))
    }

    public func reshaped(to newShape: [Int]) -> Variable {
        let inputShape = shape
        return Variable(value: value.reshaped(to: newShape), parents: [self]) { dy in
            [dy.reshaped(to: inputShape)]
        }
    }

    /// Reorders axes; the pullback applies the inverse permutation.
    public func transposed(permutation: [Int]) -> Variable {
        var inverse = [Int](repeating: 0, count: permutation.count)
        for (position, axis) in permutation.enumerated() { inverse[axis] = position }
        return Variable(value: value.transposed(permutation: permutation), parents: [self]) { dy in
            [dy.transposed(permutation: inverse)]
        }
    }

    public func slice(alongAxis axis: Int, _ range: Range<Int>) -> Variable {
        let inputShape = shape
        let axis = axis < 0 ? axis + rank : axis
        return Variable(value: value.slice(alongAxis: axis, range), parents: [self]) { dy in
            var pieces: [Tensor<Scalar>] = []
            if range.lowerBound > 0 {
                var before = inputShape
                before[axis] = range.lowerBound
                pieces.append(Tensor(zeros: before))
            }
            pieces.append(dy)
            if range.upperBound < inputShape[axis] {
                var after = inputShape
                after[axis] = inputShape[axis] - range.upperBound
                pieces.append(Tensor(zeros: after))
            }
            return [Tensor.concatenate(pieces, alongAxis: axis)]
        }
    }

    /// Selects rows along axis 0; the pullback scatters and adds them back.
    public func gathering(atIndices indices: [Int]) -> Variable {
        let batchSize = shape[0]
        return Variable(value: value.gathering(atIndices: indices), parents: [self]) { dy in
            [dy.scatterAdding(atIndices: indices, batchSize: batchSize)]
        }
    }

    /// Concatenates along `axis`; the pullback slices the cotangent back apart.
    public static func concatenate(_ variables: [Variable], alongAxis axis: Int) -> Variable {
        let axis = axis < 0 ? axis + variables[0].rank : axis
        let extents = variables.map { $0.shape[axis] }
        return Variable(value: Tensor.concatenate(variables.map(\.value), alongAxis: axis), parents: variables) { dy in
            var start = 0
            return extents.map { extent in
                defer { start += extent }
                return dy.slice(alongAxis: axis, start..<(start + extent))
            }
        }
    }
}

/// Matrix product with the same conventions as `matmul` on tensors.
/// Pullbacks: for C = A B, dA = dC Bᵀ and dB = Aᵀ dC, with the transposes folded into
/// the BLAS calls; a rank-2 B shared over a batch gets the sum over the batch.
public func matmul<Scalar>(
    _ a: Variable<Scalar>, _ b: Variable<Scalar>, transposeA: Bool = false, transposeB: Bool = false
) -> Variable<Scalar> {
    let (aValue, bValue) = (a.value, b.value)
    precondition(
        !(transposeA && aValue.rank == 3 && bValue.rank == 2),
        "matmul: the product of a transposed rank-3 lhs and a shared rank-2 rhs has no pullback; transpose the lhs first")
    let y = matmul(aValue, bValue, transposeA: transposeA, transposeB: transposeB)
    return Variable(value: y, parents: [a, b]) { dy in
        var da: Tensor<Scalar>?
        var db: Tensor<Scalar>?
        if a.requiresGrad {
            // A = dC Bᵀ (or B dCᵀ when A was transposed).
            da = transposeA
                ? matmul(bValue, dy, transposeA: transposeB, transposeB: true)
                : matmul(dy, bValue, transposeB: !transposeB)
        }
        if b.requiresGrad {
            if aValue.rank == 3 && bValue.rank == 2 {
                // Shared B: flatten the batch into rows, then one product.
                let rows = aValue.shape[0] * aValue.shape[1]
                let aFlat = aValue.reshaped(to: [rows, aValue.shape[2]])
                let dyFlat = dy.reshaped(to: [aValue.shape[0] * dy.shape[1], dy.shape[2]])
                db = transposeB
                    ? matmul(dyFlat, aFlat, transposeA: true)
                    : matmul(aFlat, dyFlat, transposeA: true)
            } else {
                db = transposeB
                    ? matmul(dy, aValue, transposeA: true, transposeB: transposeA)
                    : matmul(aValue, dy, transposeA: !transposeA)
            }
        }
        return [da, db]
    }
}
