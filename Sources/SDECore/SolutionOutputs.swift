import Tensors

/// Wraps values computed outside the graph (by a forward pass that recorded nothing) as
/// variables whose gradients come from one call of `backward`.
///
/// `backward` receives one cotangent per value (nil where the loss does not depend on
/// that value) and returns one cotangent per input. It runs once per backpropagation,
/// after the cotangents of all outputs have arrived: every output is a child of one
/// anchor node whose parents are `inputs`, and reverse topological order visits the
/// anchor after all of its children. Each output's pullback hands its cotangent to a
/// shared collector, and the anchor's pullback takes them all.
func makeOutputs<Scalar>(
    values: [Tensor<Scalar>], inputs: [Variable<Scalar>],
    backward: @escaping ([Tensor<Scalar>?]) -> [Tensor<Scalar>?]
) -> [Variable<Scalar>] {
    guard GradientRecording.isEnabled, inputs.contains(where: \.requiresGrad) else {
        return values.map { Variable($0) }
    }
    let collector = CotangentCollector<Scalar>(count: values.count)
    let anchor = Variable(value: Tensor<Scalar>(zeros: [1]), parents: inputs) { _ in
        backward(collector.take())
    }
    return values.enumerated().map { index, value in
        Variable(value: value, parents: [anchor]) { cotangent in
            collector.add(cotangent, at: index)
            return [Tensor(zeros: [1])]
        }
    }
}

/// The cotangents of a group of outputs, gathered during one backpropagation.
final class CotangentCollector<Scalar: TensorScalar> {
    private var cotangents: [Tensor<Scalar>?]

    init(count: Int) {
        cotangents = Array(repeating: nil, count: count)
    }

    func add(_ cotangent: Tensor<Scalar>, at index: Int) {
        if let existing = cotangents[index] {
            cotangents[index] = existing + cotangent
        } else {
            cotangents[index] = cotangent
        }
    }

    /// Returns the gathered cotangents and clears them for the next backpropagation.
    func take() -> [Tensor<Scalar>?] {
        defer { cotangents = Array(repeating: nil, count: cotangents.count) }
        return cotangents
    }
}
