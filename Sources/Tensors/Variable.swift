import Foundation

/// A tensor in a differentiable computation: a node of a dynamically built graph.
///
/// Operations on variables compute their value at once and, when gradients are being
/// recorded and some input requires a gradient, keep a pullback that maps the
/// cotangent of the output to cotangents of the inputs. `gradients(of:withRespectTo:)`
/// then runs the pullbacks in reverse topological order. When no input requires a
/// gradient, or inside `withoutRecording`, an operation keeps nothing and costs what
/// the same operation on plain tensors costs, plus one small allocation.
public final class Variable<Scalar: TensorScalar> {
    /// The value; leaves (such as parameters) may be reassigned between computations.
    public var value: Tensor<Scalar>
    /// The accumulated gradient of a leaf that requires one, written by `backward()`.
    public var grad: Tensor<Scalar>?
    /// Whether gradients flow to or through this variable.
    public let requiresGrad: Bool

    private(set) var parents: [Variable]
    private(set) var pullback: ((Tensor<Scalar>) -> [Tensor<Scalar>?])?

    /// Creates a leaf: a constant, or with `requiresGrad` an input or a parameter.
    public init(_ value: Tensor<Scalar>, requiresGrad: Bool = false) {
        self.value = value
        self.requiresGrad = requiresGrad
        parents = []
        pullback = nil
    }

    /// Creates the output of an operation. The pullback is kept only when gradients are
    /// recorded and an input requires one.
    public init(
        value: Tensor<Scalar>, parents: [Variable],
        pullback: @escaping (Tensor<Scalar>) -> [Tensor<Scalar>?]
    ) {
        self.value = value
        if GradientRecording.isEnabled && parents.contains(where: \.requiresGrad) {
            requiresGrad = true
            self.parents = parents
            self.pullback = pullback
        } else {
            requiresGrad = false
            self.parents = []
            self.pullback = nil
        }
    }

    // Releases the graph iteratively: the default recursive release of a chain of
    // 100,000 nodes (a long SDE solve) would overflow the stack.
    deinit {
        guard !parents.isEmpty else { return }
        var pending: [Variable] = []
        swap(&pending, &parents)
        pullback = nil
        while var node = pending.popLast() {
            if isKnownUniquelyReferenced(&node) {
                pending.append(contentsOf: node.parents)
                node.parents = []
                node.pullback = nil
            }
        }
    }

    public var shape: [Int] { value.shape }
    public var rank: Int { value.rank }

    /// Returns the same value cut from the graph, so gradients do not flow through it.
    public func detached() -> Variable {
        Variable(value)
    }

    /// Accumulates d self / d leaf into `grad` for every leaf that requires a gradient;
    /// `self` must have one element unless a cotangent is given.
    public func backward(cotangent: Tensor<Scalar>? = nil) {
        let seed = cotangent ?? seedCotangent()
        for (leaf, gradient) in propagate(from: seed, keepingLeaves: nil) {
            if let existing = leaf.grad {
                leaf.grad = existing + gradient
            } else {
                leaf.grad = gradient
            }
        }
    }

    func seedCotangent() -> Tensor<Scalar> {
        precondition(
            value.scalarCount == 1,
            "backward(): output of shape \(value.shape) is not a scalar; pass a cotangent of that shape")
        return Tensor(shape: value.shape, repeating: 1)
    }

    /// Runs the pullbacks from this node and returns the cotangents of the leaves (or of
    /// `targets`, when given, whether leaves or not).
    func propagate(from seed: Tensor<Scalar>, keepingLeaves targets: Set<ObjectIdentifier>?) -> [(Variable, Tensor<Scalar>)] {
        precondition(seed.shape == value.shape, "Cotangent of shape \(seed.shape) does not match output of shape \(value.shape)")
        guard requiresGrad else { return [] }

        let order = topologicalOrder()
        var cotangents: [ObjectIdentifier: Tensor<Scalar>] = [ObjectIdentifier(self): seed]
        var results: [(Variable, Tensor<Scalar>)] = []

        for node in order.reversed() {
            let id = ObjectIdentifier(node)
            guard let cotangent = cotangents[id] else { continue }
            let isTarget = targets?.contains(id) ?? (node.pullback == nil)
            if isTarget {
                results.append((node, cotangent))
            }
            guard let pullback = node.pullback else { continue }
            cotangents[id] = nil

            let parentCotangents = pullback(cotangent)
            for (parent, parentCotangent) in zip(node.parents, parentCotangents) {
                guard parent.requiresGrad, let parentCotangent else { continue }
                precondition(
                    parentCotangent.shape == parent.value.shape,
                    "Pullback returned a cotangent of shape \(parentCotangent.shape) for an input of shape \(parent.value.shape)")
                let parentID = ObjectIdentifier(parent)
                if let existing = cotangents[parentID] {
                    cotangents[parentID] = existing + parentCotangent
                } else {
                    cotangents[parentID] = parentCotangent
                }
            }
        }
        return results
    }

    /// Lists the nodes that require gradients and feed this one, each after its inputs.
    func topologicalOrder() -> [Variable] {
        var order: [Variable] = []
        var visited: Set<ObjectIdentifier> = []
        // Iterative depth-first search, so deep graphs (long SDE solves) cannot overflow the stack.
        var stack: [(Variable, Bool)] = [(self, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded {
                order.append(node)
                continue
            }
            let id = ObjectIdentifier(node)
            if visited.contains(id) { continue }
            visited.insert(id)
            stack.append((node, true))
            for parent in node.parents where parent.requiresGrad && !visited.contains(ObjectIdentifier(parent)) {
                stack.append((parent, false))
            }
        }
        return order
    }
}

/// Returns the gradients of `output` with respect to each of `targets`, seeded with
/// `cotangent` (or 1 for a scalar output). A target the output does not depend on gets
/// zeros. Leaves' `grad` fields are not touched.
public func gradients<Scalar>(
    of output: Variable<Scalar>, withRespectTo targets: [Variable<Scalar>], cotangent: Tensor<Scalar>? = nil
) -> [Tensor<Scalar>] {
    let seed = cotangent ?? output.seedCotangent()
    let ids = Set(targets.map(ObjectIdentifier.init))
    var found: [ObjectIdentifier: Tensor<Scalar>] = [:]
    for (node, gradient) in output.propagate(from: seed, keepingLeaves: ids) {
        found[ObjectIdentifier(node)] = gradient
    }
    return targets.map { found[ObjectIdentifier($0)] ?? Tensor(zeros: $0.shape) }
}

/// Computes `f(inputs)` and the vector–Jacobian product `cotangentᵀ ∂f/∂(inputs, parameters)`.
///
/// `parameters` are variables that `f` reads from its surroundings (network weights);
/// they must have `requiresGrad`. The result's `inputGradients` line up with `inputs`
/// and `parameterGradients` with `parameters`.
public func vectorJacobianProduct<Scalar>(
    at inputs: [Tensor<Scalar>], cotangent: Tensor<Scalar>, parameters: [Variable<Scalar>] = [],
    of function: ([Variable<Scalar>]) -> Variable<Scalar>
) -> (value: Tensor<Scalar>, inputGradients: [Tensor<Scalar>], parameterGradients: [Tensor<Scalar>]) {
    GradientRecording.withRecording {
        let variables = inputs.map { Variable($0, requiresGrad: true) }
        let output = function(variables)
        let all = gradients(of: output, withRespectTo: variables + parameters, cotangent: cotangent)
        return (output.value, Array(all[..<variables.count]), Array(all[variables.count...]))
    }
}

/// Computes a scalar function and its gradient with respect to each input.
public func valueWithGradient<Scalar>(
    at inputs: [Tensor<Scalar>], of function: ([Variable<Scalar>]) -> Variable<Scalar>
) -> (value: Scalar, gradients: [Tensor<Scalar>]) {
    GradientRecording.withRecording {
        let variables = inputs.map { Variable($0, requiresGrad: true) }
        let output = function(variables)
        return (output.value.scalar, gradients(of: output, withRespectTo: variables))
    }
}

/// The per-thread switch that turns graph recording off, for sampling and detached paths.
public enum GradientRecording {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Whether operations on this thread keep pullbacks; true unless inside `withoutRecording`.
    public static var isEnabled: Bool {
        pthread_getspecific(key) == nil
    }

    /// Runs `body` with recording off: every variable it creates is a constant.
    public static func withoutRecording<R>(_ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(key)
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(key, previous) }
        return try body()
    }

    /// Runs `body` with recording on, even inside `withoutRecording`.
    public static func withRecording<R>(_ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(key)
        pthread_setspecific(key, nil)
        defer { pthread_setspecific(key, previous) }
        return try body()
    }
}

/// Runs `body` without recording gradients; shorthand for `GradientRecording.withoutRecording`.
public func withoutRecording<R>(_ body: () throws -> R) rethrows -> R {
    try GradientRecording.withoutRecording(body)
}
