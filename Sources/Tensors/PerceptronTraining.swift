/// Evaluates the dense layers `x ← f(x Wᵢᵀ + bᵢ)` like `perceptronForward`, as one
/// differentiable operation when gradients are recorded.
///
/// The forward pass runs the same blocks of rows as `perceptronForward`, so the value has
/// the same bits, and keeps every hidden layer's pre-activations and activations. The
/// pullback runs each block of rows through every layer backwards on one core:
///
///     dZₖ = dY,   dWᵢ = Σ_blocks dZᵢᵀ Aᵢ₋₁,   dbᵢ = Σ_blocks Σ_rows dZᵢ,
///     dAᵢ₋₁ = dZᵢ Wᵢ,   dZᵢ₋₁ = dAᵢ₋₁ ⊙ f′(Zᵢ₋₁),
///
/// with A₀ = x. The partial sums of the blocks are added in block order, so the gradients
/// do not depend on how many threads ran the blocks either.
///
/// - Parameters:
///   - input: `[rows, inputSize]`.
///   - weights: one `[outputSize, inputSize]` matrix per layer, whose sizes chain.
///   - biases: one `[outputSize]` vector or nil per layer.
///   - activation: f: `.tanh`, `.sigmoid`, `.silu`, `.relu`, or nil for none.
/// - Returns: `[rows, outputSize]` of the last layer.
public func perceptron<Scalar: TensorScalar>(
    _ input: Variable<Scalar>, weights: [Variable<Scalar>], biases: [Variable<Scalar>?], activation: UnaryFunction?
) -> Variable<Scalar> {
    precondition(
        activation.map { [.tanh, .sigmoid, .silu, .relu].contains($0) } ?? true,
        "perceptron: activation \(activation.map { "\($0)" } ?? "nil") is not supported; use tanh, sigmoid, silu, relu or nil")
    let weightValues = weights.map { $0.value }
    let biasValues = biases.map { $0?.value }
    // Decided before building the parameter list below, which a call that records
    // nothing does not need.
    let isRecorded = GradientRecording.isEnabled
        && (input.requiresGrad || weights.contains { $0.requiresGrad } || biases.contains { $0?.requiresGrad == true })
    guard isRecorded else {
        return Variable(perceptronForward(input.value, weights: weightValues, biases: biasValues, activation: activation))
    }
    var parameters: [Variable<Scalar>] = []
    for (weight, bias) in zip(weights, biases) {
        parameters.append(weight)
        if let bias { parameters.append(bias) }
    }

    let plan = PerceptronPlan(input: input.value, weights: weightValues, biases: biasValues, activation: activation)
    let saved = plan.forward()
    let inputNeedsGradient = input.requiresGrad
    return Variable(value: saved.output, parents: [input] + parameters) { cotangent in
        let (inputGradient, layerGradients) = plan.backward(cotangent, saved: saved, inputGradient: inputNeedsGradient)
        var gradients: [Tensor<Scalar>?] = [inputGradient]
        for (layer, bias) in biases.enumerated() {
            gradients.append(layerGradients[layer].weight)
            if bias != nil { gradients.append(layerGradients[layer].bias) }
        }
        return gradients
    }
}

/// The shapes, parameters and blocks of rows of one `perceptron` call.
private struct PerceptronPlan<Scalar: TensorScalar> {
    let input: Tensor<Scalar>
    let weights: [Tensor<Scalar>]
    let biases: [Tensor<Scalar>?]
    let activation: UnaryFunction?
    let rows: Int
    let rowsPerBlock: Int
    let blockCount: Int

    init(input: Tensor<Scalar>, weights: [Tensor<Scalar>], biases: [Tensor<Scalar>?], activation: UnaryFunction?) {
        validatePerceptronShapes(input, weights: weights, biases: biases)
        self.input = input
        self.weights = weights
        self.biases = biases
        self.activation = activation
        rows = input.shape[0]
        rowsPerBlock = perceptronRowsPerBlock(weights: weights)
        blockCount = (rows + rowsPerBlock - 1) / rowsPerBlock
    }

    /// The pre-activations Z and activations A of every hidden layer, `[rows, size]` each
    /// (A is Z when there is no activation), and the output.
    struct Saved {
        var preactivations: [Tensor<Scalar>]
        var activations: [Tensor<Scalar>]
        var output: Tensor<Scalar>
    }

    func forward() -> Saved {
        let hiddenSizes = weights.dropLast().map { $0.shape[0] }
        let preactivations = hiddenSizes.map { uninitializedTensor(shape: [rows, $0]) }
        let activations = activation == nil ? preactivations : hiddenSizes.map { uninitializedTensor(shape: [rows, $0]) }
        let output = uninitializedTensor(shape: [rows, weights[weights.count - 1].shape[0]])
        let layers = perceptronLayers(weights: weights, biases: biases)
        let (zPointers, aPointers) = (preactivations.map { $0.storage.pointer }, activations.map { $0.storage.pointer })
        let (source, destination) = (input.storage.pointer, output.storage.pointer)
        parallelChunks(blockCount, minimumChunk: 1) { blockRange in
            for block in blockRange {
                let range = blockRows(block)
                var layerInput = UnsafePointer(source + range.lowerBound * layers[0].inputSize)
                for (index, layer) in layers.enumerated() {
                    let isLast = index == layers.count - 1
                    let z = (isLast ? destination : zPointers[index]) + range.lowerBound * layer.outputSize
                    multiplyOntoBias(layer, input: layerInput, output: z, rows: range.count)
                    if isLast { break }
                    let a = aPointers[index] + range.lowerBound * layer.outputSize
                    if let activation {
                        Scalar.apply(activation, z, a, count: range.count * layer.outputSize)
                    }
                    layerInput = UnsafePointer(a)
                }
            }
        }
        withExtendedLifetime((input, weights, biases)) {}
        return Saved(preactivations: preactivations, activations: activations, output: output)
    }

    /// Returns the gradient of the input (when asked for) and of every layer's weight and
    /// bias for the output cotangent `dy`.
    func backward(
        _ dy: Tensor<Scalar>, saved: Saved, inputGradient: Bool
    ) -> (input: Tensor<Scalar>?, layers: [(weight: Tensor<Scalar>, bias: Tensor<Scalar>?)]) {
        let layers = perceptronLayers(weights: weights, biases: biases)
        let widest = weights.map { $0.shape[1] }.max()!
        // Each block writes its own partial weight and bias gradients, summed afterwards.
        let partialWeights = layers.map { uninitializedTensor(shape: [blockCount, $0.outputSize * $0.inputSize]) }
        let partialBiases = layers.map { uninitializedTensor(shape: [blockCount, $0.outputSize]) }
        let dx = inputGradient ? uninitializedTensor(shape: input.shape) : nil
        let pointers = (
            x: input.storage.pointer, dy: dy.storage.pointer, dx: dx?.storage.pointer,
            z: saved.preactivations.map { $0.storage.pointer }, a: saved.activations.map { $0.storage.pointer },
            dW: partialWeights.map { $0.storage.pointer }, db: partialBiases.map { $0.storage.pointer })

        parallelChunks(blockCount, minimumChunk: 1) { blockRange in
            // Three buffers for one block: dAᵢ₋₁ goes to one that dZᵢ is not in, and dZᵢ₋₁
            // to the third, so that no kernel writes the memory it reads.
            let size = rowsPerBlock * widest
            let scratch = UnsafeMutablePointer<Scalar>.allocate(capacity: 3 * size)
            defer { scratch.deallocate() }
            func buffer(avoiding first: UnsafePointer<Scalar>, _ second: UnsafePointer<Scalar>? = nil) -> UnsafeMutablePointer<Scalar> {
                let candidates = [scratch, scratch + size, scratch + 2 * size]
                return candidates.first { UnsafePointer($0) != first && UnsafePointer($0) != second }!
            }

            for block in blockRange {
                let range = blockRows(block)
                var dz = UnsafePointer(pointers.dy + range.lowerBound * layers[layers.count - 1].outputSize)
                for index in stride(from: layers.count - 1, through: 0, by: -1) {
                    let layer = layers[index]
                    let layerInput = UnsafePointer(
                        (index == 0 ? pointers.x : pointers.a[index - 1]) + range.lowerBound * layer.inputSize)

                    // dWᵢ and dbᵢ of this block.
                    Scalar.gemm(
                        transposeA: true, transposeB: false, m: layer.outputSize, n: layer.inputSize, k: range.count,
                        alpha: 1, a: dz, lda: layer.outputSize, b: layerInput, ldb: layer.inputSize,
                        beta: 0, c: pointers.dW[index] + block * layer.outputSize * layer.inputSize, ldc: layer.inputSize)
                    if layer.bias != nil {
                        Scalar.sum(
                            dz, pointers.db[index] + block * layer.outputSize, outer: 1, reduced: range.count,
                            inner: layer.outputSize)
                    }
                    if index == 0 && pointers.dx == nil { break }

                    // dAᵢ₋₁ = dZᵢ Wᵢ, written to the input gradient for the first layer.
                    let da = index == 0 ? pointers.dx! + range.lowerBound * layer.inputSize : buffer(avoiding: dz)
                    Scalar.gemm(
                        transposeA: false, transposeB: false, m: range.count, n: layer.inputSize, k: layer.outputSize,
                        alpha: 1, a: dz, lda: layer.outputSize, b: layer.weight, ldb: layer.inputSize,
                        beta: 0, c: da, ldc: layer.inputSize)
                    if index == 0 { break }

                    // dZᵢ₋₁ = dAᵢ₋₁ ⊙ f′(Zᵢ₋₁).
                    guard activation != nil else {
                        dz = UnsafePointer(da)
                        continue
                    }
                    let next = buffer(avoiding: dz, UnsafePointer(da))
                    let offset = range.lowerBound * layer.inputSize
                    applyActivationDerivative(
                        z: pointers.z[index - 1] + offset, a: pointers.a[index - 1] + offset, gradient: da, output: next,
                        count: range.count * layer.inputSize)
                    dz = UnsafePointer(next)
                }
            }
        }

        let gradients = layers.indices.map { index in
            (weight: sumBlocks(partialWeights[index], shape: weights[index].shape),
             bias: biases[index] == nil ? nil : sumBlocks(partialBiases[index], shape: [layers[index].outputSize]))
        }
        withExtendedLifetime((input, weights, biases, dy, saved)) {}
        return (dx, gradients)
    }

    /// Returns a tensor whose elements the caller writes through its storage pointer.
    private func uninitializedTensor(shape: [Int]) -> Tensor<Scalar> {
        Tensor(shape: shape) { _ in }
    }

    private func blockRows(_ block: Int) -> Range<Int> {
        (block * rowsPerBlock)..<Swift.min(rows, (block + 1) * rowsPerBlock)
    }

    /// Writes `gradient` times f′ at the saved pre-activations `z` (SiLU, σ, ReLU) or
    /// activations `a` (tanh, whose f′ is 1 − a²) to `output`.
    private func applyActivationDerivative(
        z: UnsafeMutablePointer<Scalar>, a: UnsafeMutablePointer<Scalar>, gradient: UnsafeMutablePointer<Scalar>,
        output: UnsafeMutablePointer<Scalar>, count: Int
    ) {
        let derivative: (BinaryFunction, UnsafeMutablePointer<Scalar>)
        switch activation {
        case .tanh: derivative = (.tanhBackward, a)
        case .sigmoid: derivative = (.sigmoidBackward, z)
        case .silu: derivative = (.siluBackward, z)
        case .relu: derivative = (.reluBackward, z)
        default: preconditionFailure("perceptron: no derivative for activation \(String(describing: activation))")
        }
        Scalar.apply(
            derivative.0, derivative.1, gradient, output, layout: BroadcastLayout(lhsShape: [count], rhsShape: [count])!)
    }

    /// Adds the rows of `partials` (`[blocks, n]`) in block order and returns the sum with
    /// `shape`, in parallel over the n elements.
    private func sumBlocks(_ partials: Tensor<Scalar>, shape: [Int]) -> Tensor<Scalar> {
        let (blocks, count) = (partials.shape[0], partials.shape[1])
        if blocks == 1 { return partials.reshaped(to: shape) }
        return Tensor<Scalar>(shape: shape) { output in
            let (source, destination) = (partials.storage.pointer, output.baseAddress!)
            parallelChunks(count, minimumChunk: elementwiseMinimumChunk / blocks) { range in
                let layout = BroadcastLayout(lhsShape: [range.count], rhsShape: [range.count])!
                let target = destination + range.lowerBound
                UnsafeMutableRawPointer(target).copyMemory(
                    from: source + range.lowerBound, byteCount: range.count * MemoryLayout<Scalar>.stride)
                for block in 1..<blocks {
                    Scalar.apply(.add, target, source + block * count + range.lowerBound, target, layout: layout)
                }
            }
        }
    }
}
