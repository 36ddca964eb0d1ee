import SDECore
import Tensors

/// The DEFT-corrected noise predictor ε_θ(x, t) + h^φ_t(x, y) for a fixed batch of
/// observations, one per sample.
///
/// By the ε-units convention of `HTransformNetwork`, this predicts E[ε | X_t = x, y], so
/// any DDPM, DDIM or reverse-SDE sampler that drives a `NoisePredictor` samples the
/// conditional model unchanged. Both networks are evaluated without recording; sampling
/// needs no backpropagation through either.
public final class ConditionedNoisePredictor<Predictor: NoisePredictor, Schedule: NoiseLevelSchedule>: NoisePredictor {
    public typealias Scalar = Predictor.Scalar

    public let model: DEFTModel<Predictor, Schedule>
    public let conditioning: ObservationBatch<Scalar>

    public init(model: DEFTModel<Predictor, Schedule>, conditioning: ObservationBatch<Scalar>) {
        self.model = model
        self.conditioning = conditioning
    }

    /// Returns ε_θ(x, t) + h^φ_t(x, y) for a batch of the conditioning's size, as a constant.
    public func predictNoise(_ x: Variable<Scalar>, at t: Tensor<Scalar>) -> Variable<Scalar> {
        precondition(
            x.shape[0] == conditioning.count,
            "ConditionedNoisePredictor: batch of \(x.shape[0]) states for \(conditioning.count) observations")
        let (inputs, priorNoise) = model.networkInputs(state: x.value, time: t, conditioning: conditioning)
        let correction = withoutRecording { model.network(inputs).value }
        return Variable(priorNoise + correction)
    }
}
