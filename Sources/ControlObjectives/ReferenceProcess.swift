import Tensors

/// The process whose paths a detached objective (log-variance, trajectory balance) is
/// evaluated on: the reverse SDE with h-transform v and diffusion λ σ_t,
/// dX = (b + σ g v) dτ + λ σ dW in reverse time, where g v is in control units.
///
/// The path is simulated without recording gradients, so any reference gives an
/// objective whose minimiser is h* (the log-ratio is then constant along paths up to the
/// start-law floor). The on-policy reference (a stop-gradient copy of the current h) is
/// the one for which the log-variance gradient is twice the relative-entropy gradient.
public struct ReferenceProcess<Scalar: TensorScalar> {
    public enum Drift {
        /// v = stopgrad(h_θ): the current control, with no gradient through the path.
        case currentControl
        /// v = 0: the unconditional reverse SDE of the prior.
        case prior
        /// A fixed h-transform, such as an earlier copy of the model.
        case model(any HTransformModel<Scalar>)
    }

    public var drift: Drift
    /// λ > 0, the factor on the diffusion; λ > 1 explores more widely than the control.
    public var noiseScale: Double

    public init(drift: Drift = .currentControl, noiseScale: Double = 1) {
        precondition(noiseScale > 0 && noiseScale.isFinite, "ReferenceProcess: noise scale \(noiseScale) must be positive")
        self.drift = drift
        self.noiseScale = noiseScale
    }

    /// The stop-gradient copy of the current control with the model's own noise.
    public static var onPolicy: ReferenceProcess { ReferenceProcess() }
}
