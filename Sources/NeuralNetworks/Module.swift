import Tensors

/// A model part that owns trainable parameters and lists them under stable dotted names.
///
/// Parameters are `Variable` leaves created with `requiresGrad: true`. `backward()` fills
/// their `grad`, and optimisers overwrite their `value` in place. Layers are classes,
/// because a layer is a handle on its parameter variables, so every reference to a layer
/// reads and updates the same weights.
///
/// Names follow the nesting of the model, for example `"down.0.blocks.1.conv1.weight"`.
/// They do not depend on the scalar type or the seed, so they can key the tensors of
/// a weight file and the state of an optimiser.
public protocol Module: AnyObject {
    associatedtype Scalar: TensorScalar

    /// The parameters with their dotted names, in a fixed order.
    var namedParameters: [(name: String, parameter: Variable<Scalar>)] { get }
}

/// A module with one input and one output, both `Variable`s.
///
/// Evaluating a layer inside `withoutRecording { }` records no graph; nothing else
/// distinguishes training from evaluation, since no layer here has dropout or batch
/// statistics.
public protocol Layer: Module {
    func callAsFunction(_ input: Variable<Scalar>) -> Variable<Scalar>
}

extension Module {
    /// The parameters in the order of `namedParameters`.
    public var parameters: [Variable<Scalar>] {
        namedParameters.map(\.parameter)
    }

    /// The total number of scalars in all parameters.
    public var parameterCount: Int {
        namedParameters.reduce(0) { $0 + $1.parameter.value.scalarCount }
    }

    /// Clears every parameter's accumulated gradient (sets `grad` to nil), so that the
    /// next `backward()` stores fresh gradients instead of adding to old ones.
    public func zeroGradients() {
        for (_, parameter) in namedParameters {
            parameter.grad = nil
        }
    }

    /// Returns the parameter called `name`, or nil when there is none.
    public func parameter(named name: String) -> Variable<Scalar>? {
        namedParameters.first { $0.name == name }?.parameter
    }

    /// The current parameter values by name, for writing a weight file.
    public var parameterValues: [String: Tensor<Scalar>] {
        Dictionary(uniqueKeysWithValues: namedParameters.map { ($0.name, $0.parameter.value) })
    }

    /// Copies `values` into the parameters of the same names.
    ///
    /// Every parameter must have an entry of its own shape. Entries whose names match no
    /// parameter are rejected too, so that loading weights saved from another
    /// architecture fails instead of silently leaving parameters at their initial values.
    public func loadParameterValues(_ values: [String: Tensor<Scalar>]) {
        let names = Set(namedParameters.map(\.name))
        let unknown = values.keys.filter { !names.contains($0) }.sorted()
        precondition(unknown.isEmpty, "loadParameterValues: no parameter is named \(unknown)")
        for (name, parameter) in namedParameters {
            guard let value = values[name] else {
                preconditionFailure("loadParameterValues: parameter \(name) is missing from the values")
            }
            precondition(
                value.shape == parameter.value.shape,
                "loadParameterValues: \(name) has shape \(value.shape), the model expects \(parameter.value.shape)")
            parameter.value = value
        }
    }

    /// Returns the named parameters with `prefix` and a dot before each name, for a
    /// parent module that lists this one as a child.
    public func namedParameters(prefix: String) -> [(name: String, parameter: Variable<Scalar>)] {
        namedParameters.map { (prefix + "." + $0.name, $0.parameter) }
    }
}

extension Layer {
    /// Returns the layer's output for a plain tensor without recording a graph, for
    /// evaluation and sampling.
    public func inferring(from input: Tensor<Scalar>) -> Tensor<Scalar> {
        withoutRecording { self(Variable(input)).value }
    }
}
