import SDECore
import Tensors

/// Returns the data consistency `‖y − A(x)‖` of each reconstruction in `x` with its
/// observation in `y`, over the measured entries (for inpainting, the observed pixels).
public func dataConsistency<Model: GaussianObservationModel>(
    of x: Tensor<Model.Scalar>, observation y: Tensor<Model.Scalar>, under model: Model
) -> [Double] {
    residualSquaredNorms(of: x, observation: y, under: model).map { $0.squareRoot() }
}

/// Returns the reduced chi-squared `‖y − A(x)‖² / (m σ_y²)` of each reconstruction, with
/// `m` the element's number of measurements. It is near 1 when `x` explains `y` to the
/// noise level, above 1 when it underfits and below 1 when it fits the noise. Needs σ_y > 0.
public func reducedChiSquared<Model: GaussianObservationModel>(
    of x: Tensor<Model.Scalar>, observation y: Tensor<Model.Scalar>, under model: Model
) -> [Double] {
    let sigma = Double(model.noise.standardDeviation)
    precondition(sigma > 0, "reducedChiSquared: the noise standard deviation is 0, so χ² is undefined")
    let counts = model.measurementCounts(observationShape: y.shape)
    return zip(residualSquaredNorms(of: x, observation: y, under: model), counts).map { norm, count in
        norm / (Double(count) * sigma * sigma)
    }
}

private func residualSquaredNorms<Model: GaussianObservationModel>(
    of x: Tensor<Model.Scalar>, observation y: Tensor<Model.Scalar>, under model: Model
) -> [Double] {
    let residual = withoutRecording { model.residual(of: y, given: Variable(x)).value }
    let batch = residual.shape[0]
    let values = doubleScalars(residual)
    let length = values.count / batch
    return (0..<batch).map { b in
        values[(b * length)..<((b + 1) * length)].reduce(0) { $0 + $1 * $1 }
    }
}
