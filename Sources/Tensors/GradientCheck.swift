/// The result of comparing reverse-mode gradients with central finite differences.
public struct GradientCheckResult: CustomStringConvertible {
    /// For each input, then each parameter: ‖analytic − numeric‖₂ / max(‖analytic‖₂, ‖numeric‖₂).
    public var relativeErrors: [Double]

    public var maxRelativeError: Double { relativeErrors.max() ?? 0 }

    public var description: String {
        "GradientCheckResult(relativeErrors: \(relativeErrors.map { String(format: "%.2e", $0) }))"
    }
}

/// Compares the vector–Jacobian product of `function` with central finite differences
/// of ⟨v, f⟩ for a fixed pseudo-random cotangent `v`.
///
/// Every element of every input and parameter is perturbed by ±`step`, so the cost is
/// two evaluations per element: keep the sizes small. In Double with `step` 1e-5 the
/// truncation error is about step² ‖f‴‖ ≈ 1e-10 and the rounding error about
/// ε‖f‖/step ≈ 1e-11, far below the 1e-6 that a wrong derivative produces.
public func checkGradients(
    at inputs: [Tensor<Double>], parameters: [Variable<Double>] = [], step: Double = 1e-5,
    of function: ([Variable<Double>]) -> Variable<Double>
) -> GradientCheckResult {
    // A fixed cotangent with entries in [-1, 1] exercises every output element.
    let outputShape = GradientRecording.withoutRecording { function(inputs.map { Variable($0) }).shape }
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    let cotangentScalars = (0..<outputShape.reduce(1, *)).map { _ -> Double in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Double(state >> 11) / Double(1 << 53) * 2 - 1
    }
    let cotangent = Tensor(shape: outputShape, scalars: cotangentScalars)

    let analytic = vectorJacobianProduct(at: inputs, cotangent: cotangent, parameters: parameters, of: function)

    func projectedOutput(_ currentInputs: [Tensor<Double>]) -> Double {
        GradientRecording.withoutRecording {
            let output = function(currentInputs.map { Variable($0) }).value
            return (output * cotangent).sum()
        }
    }

    var errors: [Double] = []
    for index in inputs.indices {
        var numeric = [Double](repeating: 0, count: inputs[index].scalarCount)
        for element in numeric.indices {
            var plus = inputs
            var minus = inputs
            plus[index].withUnsafeMutableBufferPointer { $0[element] += step }
            minus[index].withUnsafeMutableBufferPointer { $0[element] -= step }
            numeric[element] = (projectedOutput(plus) - projectedOutput(minus)) / (2 * step)
        }
        errors.append(relativeError(analytic.inputGradients[index].scalars, numeric))
    }
    for (index, parameter) in parameters.enumerated() {
        let original = parameter.value
        let originalScalars = original.scalars
        var numeric = [Double](repeating: 0, count: original.scalarCount)
        for element in numeric.indices {
            parameter.value.withUnsafeMutableBufferPointer { $0[element] = originalScalars[element] + step }
            let plus = projectedOutput(inputs)
            parameter.value.withUnsafeMutableBufferPointer { $0[element] = originalScalars[element] - step }
            let minus = projectedOutput(inputs)
            parameter.value = original
            numeric[element] = (plus - minus) / (2 * step)
        }
        errors.append(relativeError(analytic.parameterGradients[index].scalars, numeric))
    }
    return GradientCheckResult(relativeErrors: errors)
}

private func relativeError(_ analytic: [Double], _ numeric: [Double]) -> Double {
    var difference = 0.0
    var analyticNorm = 0.0
    var numericNorm = 0.0
    for (a, n) in zip(analytic, numeric) {
        difference += (a - n) * (a - n)
        analyticNorm += a * a
        numericNorm += n * n
    }
    let scale = Swift.max(analyticNorm, numericNorm).squareRoot()
    return scale == 0 ? 0 : difference.squareRoot() / scale
}
