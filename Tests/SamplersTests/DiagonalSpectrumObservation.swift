import Foundation
import SDECore
import Tensors

/// A x = (s₁ x₁, …, s_r x_r) on signals of `signalCount` entries, with U = I and V = I, so
/// `singularValues` may hold zeros and σ_y may be 0: the spectra that structured SVDs can
/// report (a thresholded blur, for one) but `DenseSingularValueObservation` never does.
final class DiagonalSpectrumObservation: SingularValueObservationModel {
    typealias Scalar = Double
    let values: [Double]
    let signalCount: Int
    let noiseStandardDeviation: Double

    init(singularValues values: [Double], signalCount: Int, noiseStandardDeviation: Double) {
        precondition(values.count <= signalCount, "DiagonalSpectrumObservation: \(values.count) singular values for \(signalCount) entries")
        self.values = values
        self.signalCount = signalCount
        self.noiseStandardDeviation = noiseStandardDeviation
    }

    var singularValues: Tensor<Double> { Tensor(values) }

    private var row: Tensor<Double> { Tensor(shape: [1, values.count], scalars: values) }

    /// Pads `[N, r]` with zeros to `[N, n]`.
    private func padded(_ z: Tensor<Double>) -> Tensor<Double> {
        guard values.count < signalCount else { return z }
        return Tensor.concatenate([z, Tensor(zeros: [z.shape[0], signalCount - values.count])], alongAxis: 1)
    }

    func forward(_ x: Variable<Double>) -> Variable<Double> {
        x.slice(alongAxis: 1, 0..<values.count) * Variable(row)
    }

    /// ln N(y; A x, σ_y² I) per sample; σ_y must be positive.
    func logLikelihood(of y: Tensor<Double>, given x: Variable<Double>) -> Variable<Double> {
        precondition(noiseStandardDeviation > 0, "DiagonalSpectrumObservation: σ_y = 0 has no likelihood density")
        let variance = noiseStandardDeviation * noiseStandardDeviation
        let constant = -0.5 * Double(values.count) * Foundation.log(2 * Double.pi * variance)
        let residual = Variable(y) - forward(x)
        return (residual * residual).sum(alongAxes: [1]).reshaped(to: [-1]) * (-0.5 / variance) + constant
    }

    func sample(given x: Tensor<Double>, using generator: inout PhiloxRandom) -> Tensor<Double> {
        let clean = withoutRecording { forward(Variable(x)).value }
        return clean + Tensor.normal(shape: clean.shape, using: &generator) * noiseStandardDeviation
    }

    func adjoint(_ y: Tensor<Double>) -> Tensor<Double> {
        padded(y * row)
    }

    func pseudoInverse(_ y: Tensor<Double>) -> Tensor<Double> {
        padded(y * Tensor(shape: [1, values.count], scalars: values.map { $0 > 0 ? 1 / $0 : 0 }))
    }

    func applyVTranspose(_ x: Tensor<Double>) -> Tensor<Double> { x.reshaped(to: [x.shape[0], signalCount]) }
    func applyV(_ z: Tensor<Double>) -> Tensor<Double> { z }
    func applyUTranspose(_ y: Tensor<Double>) -> Tensor<Double> { y }
    func applyU(_ z: Tensor<Double>) -> Tensor<Double> { z }
}
