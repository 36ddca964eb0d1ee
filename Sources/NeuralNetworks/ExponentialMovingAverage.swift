import Tensors

/// An exponential moving average of parameters, for evaluating a smoothed model:
/// `θ̄ ← d θ̄ + (1 - d) θ` after each optimiser step.
///
/// Without warm-up the decay `d` is fixed. With warm-up it is
/// `d_n = min(d, (1 + n) / (10 + n))`, where `n` counts the earlier updates, as in
/// TensorFlow's `ExponentialMovingAverage` with `num_updates`. The first update keeps
/// 10 % of the initial average, and the weight of the initial values, `Π d_k`, is below
/// 1e-7 after 20 updates, where a fixed `d = 0.999` would need about 16,000. The
/// averages start as a copy of the parameters.
public final class ExponentialMovingAverage<Scalar: OptimizerScalar> {
    /// The averaged parameters, in the order given.
    public let parameters: [Variable<Scalar>]
    /// The averages `θ̄`, one per parameter; assign saved averages to resume.
    public var averages: [Tensor<Scalar>] {
        get { storedAverages }
        set {
            precondition(
                newValue.map(\.shape) == parameters.map(\.value.shape),
                "ExponentialMovingAverage: assigned averages of shapes \(newValue.map(\.shape)) do not match the parameters")
            storedAverages = newValue
        }
    }
    private var storedAverages: [Tensor<Scalar>]
    /// The decay `d` ∈ [0, 1], or its upper bound with warm-up.
    public let decay: Scalar
    /// Whether the decay ramps up as `(1 + n) / (10 + n)`.
    public let usesWarmup: Bool
    /// The number of `update()` calls so far.
    public private(set) var updateCount = 0

    /// Creates an average of `parameters` starting at their current values.
    ///
    /// - Parameters:
    ///   - decay: `d` ∈ [0, 1], default 0.999; 0.9999 is common for diffusion models
    ///     trained for hundreds of thousands of steps.
    ///   - warmup: whether to use the decay `min(d, (1 + n) / (10 + n))`.
    public init(parameters: [Variable<Scalar>], decay: Scalar = 0.999, warmup: Bool = false) {
        precondition(decay >= 0 && decay <= 1, "ExponentialMovingAverage: decay \(decay) must lie in [0, 1]")
        self.parameters = parameters
        self.decay = decay
        usesWarmup = warmup
        storedAverages = parameters.map(\.value)
    }

    /// The decay the next `update()` will use.
    public var currentDecay: Scalar {
        guard usesWarmup else { return decay }
        let n = Scalar(updateCount)
        return Swift.min(decay, (1 + n) / (10 + n))
    }

    /// Moves every average towards its parameter's current value.
    public func update() {
        let d = currentDecay
        for index in parameters.indices {
            let value = parameters[index].value
            precondition(
                value.shape == storedAverages[index].shape,
                "ExponentialMovingAverage: parameter \(index) changed shape from \(storedAverages[index].shape) to \(value.shape)")

            // Moving the average out of the array keeps it uniquely referenced, so the
            // in-place update does not copy it.
            var average = storedAverages[index]
            storedAverages[index] = Tensor(zeros: [0])
            average.withUnsafeMutableBufferPointer { averageBuffer in
                value.withUnsafeBufferPointer { valueBuffer in
                    Scalar.movingAverageUpdate(
                        average: averageBuffer.baseAddress!, value: valueBuffer.baseAddress!,
                        count: valueBuffer.count, decay: d)
                }
            }
            storedAverages[index] = average
        }
        updateCount += 1
    }

    /// Overwrites the parameters' values with the averages, for evaluating or saving the
    /// averaged model. Training should continue from a model whose values were not
    /// overwritten; `withAveragedParameters` restores them.
    public func copyAveragesIntoParameters() {
        for (parameter, average) in zip(parameters, storedAverages) {
            parameter.value = average
        }
    }

    /// Runs `body` with the averages in the parameters, then restores the trained values.
    public func withAveragedParameters<R>(_ body: () throws -> R) rethrows -> R {
        let trained = parameters.map(\.value)
        copyAveragesIntoParameters()
        defer {
            for (parameter, value) in zip(parameters, trained) {
                parameter.value = value
            }
        }
        return try body()
    }
}
