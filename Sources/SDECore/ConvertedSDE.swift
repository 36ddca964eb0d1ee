import Tensors

/// The same process as `base`, written in the other interpretation.
///
/// With c = ½ Σⱼ (∂gⱼ/∂x) gⱼ from `base.itoCorrection`, the Itô SDE with drift f is the
/// Stratonovich SDE with drift f − c, and the Stratonovich SDE with drift f is the Itô
/// SDE with drift f + c. The diffusion is unchanged.
public struct ConvertedSDE<Base: StochasticDifferentialEquation>: StochasticDifferentialEquation {
    public typealias Scalar = Base.Scalar

    public let base: Base
    public let interpretation: SDEInterpretation

    public var noiseType: NoiseType { base.noiseType }
    public var parameters: [Variable<Scalar>] { base.parameters }

    public func drift(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        let f = base.drift(t, x)
        guard interpretation != base.interpretation, !noiseType.isAdditive else { return f }
        let correction = base.itoCorrection(t, x)!
        return interpretation == .stratonovich ? f - correction : f + correction
    }

    public func diffusion(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        base.diffusion(t, x)
    }

    public func diffusionProduct(_ t: Double, _ x: Variable<Scalar>, _ v: Tensor<Scalar>) -> Variable<Scalar> {
        base.diffusionProduct(t, x, v)
    }

    public func itoCorrection(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar>? {
        base.itoCorrection(t, x)
    }

    public var providesItoCorrection: Bool { base.providesItoCorrection }
}

extension StochasticDifferentialEquation {
    /// Returns this SDE written in `interpretation`; throws when the SDE has
    /// state-dependent noise and supplies no Itô correction.
    public func converted(to interpretation: SDEInterpretation) throws -> ConvertedSDE<Self> {
        if interpretation != self.interpretation && !noiseType.isAdditive {
            guard providesItoCorrection else {
                throw SDESetupError(
                    "Cannot convert a \(self.interpretation) SDE with \(noiseType) noise to \(interpretation): "
                        + "it supplies no Itô correction ½ Σⱼ (∂gⱼ/∂x) gⱼ; implement itoCorrection(_:_:)")
            }
        }
        return ConvertedSDE(base: self, interpretation: interpretation)
    }
}
