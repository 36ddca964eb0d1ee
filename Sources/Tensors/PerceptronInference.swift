/// The minimum work of one block of rows in `perceptronForward`, in multiply–adds: about
/// 3 µs of sgemm, a few times the cost of handing a block to another core.
let perceptronBlockMultiplyAdds = 1 << 18
/// The minimum rows of a block. Fewer blocks mean fewer partial gradients to add in
/// `perceptron`'s pullback and less packing in OpenBLAS. Blocks of 256 rows still split
/// the batches of the SDE solves and training steps here (a few hundred to a thousand
/// rows) evenly across 2 cores.
let perceptronMinimumBlockRows = 256

/// Evaluates the dense layers `x ← f(x Wᵢᵀ + bᵢ)`, with the activation f after every layer
/// but the last, on the rows of `input`, without recording a graph.
///
/// The rows are cut into blocks of `rowsPerBlock` rows, and each block passes through
/// every layer on one core, so its hidden activations stay in that core's cache and the
/// cores meet once per call instead of once per layer. A hidden layer is one
/// single-threaded GEMM onto the bias and one pass of f. The blocks depend on the shapes
/// alone, so the result does not depend on how many threads share them.
///
/// OpenBLAS picks its kernel by the size of a product, so a row's last bits can differ
/// from those of the layers applied to all rows at once (`Linear`, then f).
///
/// - Parameters:
///   - input: `[rows, inputSize]`.
///   - weights: one `[outputSize, inputSize]` matrix per layer (PyTorch's layout), whose
///     sizes chain.
///   - biases: one `[outputSize]` vector or nil per layer.
///   - activation: f, or nil for none.
///   - rowsPerBlock: the rows of a block, a positive multiple of 16; by default those
///     of 2¹⁸ multiply–adds, at least 256.
/// - Returns: `[rows, outputSize]` of the last layer.
public func perceptronForward<Scalar: TensorScalar>(
    _ input: Tensor<Scalar>, weights: [Tensor<Scalar>], biases: [Tensor<Scalar>?], activation: UnaryFunction?,
    rowsPerBlock: Int? = nil
) -> Tensor<Scalar> {
    validatePerceptronShapes(input, weights: weights, biases: biases)
    if let rowsPerBlock {
        precondition(
            rowsPerBlock > 0 && rowsPerBlock.isMultiple(of: 16),
            "perceptronForward: rowsPerBlock \(rowsPerBlock) must be a positive multiple of 16")
    }

    let rows = input.shape[0]
    let outputSize = weights[weights.count - 1].shape[0]
    // The loops here and in `forwardRows` run over plain indices, because in unspecialised
    // generic code `enumerated()`, `map` and `reduce` look up type metadata on every call.
    var widestHidden = 0
    for index in 0..<(weights.count - 1) {
        widestHidden = Swift.max(widestHidden, weights[index].shape[0])
    }
    let blockRows = rowsPerBlock ?? perceptronRowsPerBlock(weights: weights)
    let blocks = (rows + blockRows - 1) / blockRows

    let layers = perceptronLayers(weights: weights, biases: biases)
    let result = Tensor<Scalar>(shape: [rows, outputSize]) { output in
        let (source, destination) = (input.storage.pointer, output.baseAddress!)
        parallelChunks(blocks, minimumChunk: 1) { blockRange in
            for block in blockRange {
                forwardRows(
                    (block * blockRows)..<Swift.min(rows, (block + 1) * blockRows), input: source, output: destination,
                    layers: layers, widestHidden: widestHidden, activation: activation)
            }
        }
    }
    // The layers read the weights through raw pointers; keep the tensors alive until here.
    withExtendedLifetime((input, weights, biases)) {}
    return result
}

/// Checks that `weights` and `biases` form a chain of dense layers that takes `input`.
func validatePerceptronShapes<Scalar>(_ input: Tensor<Scalar>, weights: [Tensor<Scalar>], biases: [Tensor<Scalar>?]) {
    precondition(!weights.isEmpty && biases.count == weights.count, "perceptron: one bias entry is needed per weight")
    precondition(
        input.rank == 2 && input.shape[1] == weights[0].shape[1],
        "perceptron: input of shape \(input.shape) must be [rows, \(weights[0].shape[1])]")
    for index in 0..<weights.count {
        let weight = weights[index]
        precondition(weight.rank == 2, "perceptron: weight \(index) of shape \(weight.shape) must be rank 2")
        if index > 0 {
            precondition(
                weight.shape[1] == weights[index - 1].shape[0],
                "perceptron: weight \(index) of shape \(weight.shape) does not take the \(weights[index - 1].shape[0]) outputs of the layer before")
        }
        if let bias = biases[index] {
            precondition(
                bias.shape == [weight.shape[0]],
                "perceptron: bias \(index) of shape \(bias.shape) must be [\(weight.shape[0])]")
        }
    }
}

/// Returns the default rows of a block: those of `perceptronBlockMultiplyAdds` rounded up
/// to a multiple of 16, and at least `perceptronMinimumBlockRows`.
func perceptronRowsPerBlock<Scalar>(weights: [Tensor<Scalar>]) -> Int {
    var multiplyAddsPerRow = 0
    for weight in weights {
        multiplyAddsPerRow += weight.scalarCount
    }
    let rows = (perceptronBlockMultiplyAdds / Swift.max(1, multiplyAddsPerRow) + 15) / 16 * 16
    return Swift.max(perceptronMinimumBlockRows, rows)
}

/// A layer's parameters as raw pointers, for the per-core loops of the perceptron.
struct PerceptronLayer<Scalar> {
    let weight: UnsafeMutablePointer<Scalar>
    let bias: UnsafeMutablePointer<Scalar>?
    let outputSize: Int
    let inputSize: Int
}

/// Returns the layers' pointers; the caller keeps the tensors alive while it uses them.
func perceptronLayers<Scalar>(weights: [Tensor<Scalar>], biases: [Tensor<Scalar>?]) -> [PerceptronLayer<Scalar>] {
    var layers: [PerceptronLayer<Scalar>] = []
    layers.reserveCapacity(weights.count)
    for index in 0..<weights.count {
        let weight = weights[index]
        layers.append(PerceptronLayer(
            weight: weight.storage.pointer, bias: biases[index]?.storage.pointer,
            outputSize: weight.shape[0], inputSize: weight.shape[1]))
    }
    return layers
}

/// Writes `input Wᵀ + b` for `rows` rows to `output` with one single-threaded GEMM.
///
/// The bias is written first and the product added onto it (β = 1), as `Linear` does,
/// because OpenBLAS would otherwise clear the output in a pass of its own.
func multiplyOntoBias<Scalar: TensorScalar>(
    _ layer: PerceptronLayer<Scalar>, input: UnsafePointer<Scalar>, output: UnsafeMutablePointer<Scalar>, rows: Int
) {
    let stride = MemoryLayout<Scalar>.stride
    if let bias = layer.bias {
        fillRepeating(
            UnsafeMutableRawPointer(output), pattern: UnsafeRawPointer(bias), patternBytes: layer.outputSize * stride,
            totalBytes: rows * layer.outputSize * stride)
    }
    Scalar.gemm(
        transposeA: false, transposeB: true, m: rows, n: layer.outputSize, k: layer.inputSize,
        alpha: 1, a: input, lda: layer.inputSize, b: layer.weight, ldb: layer.inputSize,
        beta: layer.bias == nil ? 0 : 1, c: output, ldc: layer.outputSize)
}

/// Runs rows `range` of the input through every layer on the calling thread.
private func forwardRows<Scalar: TensorScalar>(
    _ range: Range<Int>, input: UnsafeMutablePointer<Scalar>, output: UnsafeMutablePointer<Scalar>,
    layers: [PerceptronLayer<Scalar>], widestHidden: Int, activation: UnaryFunction?
) {
    let rows = range.count
    let stride = MemoryLayout<Scalar>.stride
    // Two buffers for the hidden layers: a GEMM writes the one its input is not in, and f
    // reads that one and writes the other, the next layer's input.
    let bufferBytes = Swift.max(1, rows * widestHidden) * stride
    let memory = UnsafeMutableRawPointer.allocate(byteCount: 2 * bufferBytes, alignment: 64)
    defer { memory.deallocate() }
    let first = memory.bindMemory(to: Scalar.self, capacity: 2 * bufferBytes / stride)
    let second = first + bufferBytes / stride
    func otherBuffer(than pointer: UnsafePointer<Scalar>) -> UnsafeMutablePointer<Scalar> {
        pointer == UnsafePointer(first) ? second : first
    }

    var layerInput = UnsafePointer(input + range.lowerBound * layers[0].inputSize)
    for index in 0..<layers.count {
        let layer = layers[index]
        let isLast = index == layers.count - 1
        let layerOutput = isLast ? output + range.lowerBound * layer.outputSize : otherBuffer(than: layerInput)
        multiplyOntoBias(layer, input: layerInput, output: layerOutput, rows: rows)
        if isLast { break }

        if let activation {
            let activations = otherBuffer(than: UnsafePointer(layerOutput))
            Scalar.apply(activation, layerOutput, activations, count: rows * layer.outputSize)
            layerInput = UnsafePointer(activations)
        } else {
            layerInput = UnsafePointer(layerOutput)
        }
    }
}
