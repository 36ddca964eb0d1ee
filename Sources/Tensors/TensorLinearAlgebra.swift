import Dispatch

// Matrix products on BLAS.

/// Returns the matrix product `op(a) · op(b)`, where `op` transposes the last two axes
/// when asked.
///
/// Rank-2 operands give a plain product. A rank-3 `a` of shape `[batch, m, k]` is
/// multiplied batch by batch with a rank-3 `b` of shape `[batch, k, n]`, or with one
/// rank-2 `b` shared by every batch element.
public func matmul<Scalar>(
    _ a: Tensor<Scalar>, _ b: Tensor<Scalar>, transposeA: Bool = false, transposeB: Bool = false
) -> Tensor<Scalar> {
    precondition(a.rank == 2 || a.rank == 3, "matmul: lhs of shape \(a.shape) must have rank 2 or 3")
    precondition(b.rank == 2 || b.rank == 3, "matmul: rhs of shape \(b.shape) must have rank 2 or 3")
    precondition(b.rank <= a.rank, "matmul: rhs of shape \(b.shape) has a batch axis but lhs of shape \(a.shape) does not")

    let (aRows, aCols) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
    let (bRows, bCols) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
    let m = transposeA ? aCols : aRows
    let k = transposeA ? aRows : aCols
    let kB = transposeB ? bCols : bRows
    let n = transposeB ? bRows : bCols
    precondition(
        k == kB,
        "matmul: inner dimensions differ for shapes \(a.shape)\(transposeA ? "ᵀ" : "") and \(b.shape)\(transposeB ? "ᵀ" : "")")

    let batch = a.rank == 3 ? a.shape[0] : 1
    if b.rank == 3 {
        precondition(b.shape[0] == batch, "matmul: batch sizes differ for shapes \(a.shape) and \(b.shape)")
    }

    // A shared rank-2 rhs with an untransposed rank-3 lhs is one tall product.
    if a.rank == 3 && b.rank == 2 && !transposeA {
        let flat = matmul(a.reshaped(to: [batch * aRows, aCols]), b, transposeB: transposeB)
        return flat.reshaped(to: [batch, m, n])
    }

    let outputShape = a.rank == 3 ? [batch, m, n] : [m, n]
    let aStride = aRows * aCols
    let bStride = b.rank == 3 ? bRows * bCols : 0
    return Tensor(shape: outputShape) { output in
        a.withUnsafeBufferPointer { aBuffer in
            b.withUnsafeBufferPointer { bBuffer in
                let aBase = aBuffer.baseAddress!
                let bBase = bBuffer.baseAddress!
                let cBase = output.baseAddress!
                for index in 0..<batch {
                    Scalar.gemm(
                        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                        alpha: 1, a: aBase + index * aStride, lda: aCols,
                        b: bBase + index * bStride, ldb: bCols,
                        beta: 0, c: cBase + index * m * n, ldc: n)
                }
            }
        }
    }
}

extension Tensor {
    /// Returns the tensor with its axes reordered: output axis `i` is input axis `permutation[i]`.
    public func transposed(permutation: [Int]) -> Tensor {
        precondition(
            permutation.sorted() == Array(0..<rank),
            "transposed: \(permutation) is not a permutation of the axes of shape \(shape)")
        let outputShape = permutation.map { shape[$0] }
        var inputStrides = [Int](repeating: 1, count: rank)
        for axis in stride(from: rank - 2, through: 0, by: -1) {
            inputStrides[axis] = inputStrides[axis + 1] * shape[axis + 1]
        }
        let strides = permutation.map { inputStrides[$0] }
        return Tensor(shape: outputShape) { output in
            withUnsafeBufferPointer { input in
                var index = [Int](repeating: 0, count: rank)
                var offset = 0
                for position in 0..<output.count {
                    output[position] = input[offset]
                    var axis = rank - 1
                    while axis >= 0 {
                        index[axis] += 1
                        offset += strides[axis]
                        if index[axis] < outputShape[axis] { break }
                        offset -= strides[axis] * outputShape[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
    }

    /// Returns the transpose of a rank-2 tensor.
    public func transposed() -> Tensor {
        precondition(rank == 2, "transposed(): tensor of shape \(shape) is not a matrix; pass a permutation")
        return transposed(permutation: [1, 0])
    }
}
