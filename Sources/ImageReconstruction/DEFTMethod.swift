import DEFTScoreMatching
import Imaging
import SDECore
import Samplers
import Tensors

/// DEFT: the frozen prior corrected by a fine-tuned h-network, ε_θ + h^φ, sampled with
/// DDIM from N(0, I) draws. Neither network is differentiated while sampling.
public struct DEFTMethod: ReconstructionMethod {
    public let model: DEFTModel<UNetNoisePredictor<Float>, DDPMSchedule>
    public let conditioning: TaskConditioning
    public let sampler: DDIMSampler
    public let fineTuningSeconds: Double?

    /// Creates the method for a fine-tuned `network`, sampling with DDIM in `steps` steps and noise scale `eta`.
    public init(
        prior: UNetNoisePredictor<Float>, network: ImageHTransformNetwork<Float>, conditioning: TaskConditioning,
        steps: Int, eta: Double = 0, fineTuningSeconds: Double?
    ) {
        precondition(
            network.architecture.featureChannels == conditioning.featureChannels,
            "DEFTMethod: the h-network takes \(network.architecture.featureChannels) feature channels, the \(conditioning.task.rawValue) task gives \(conditioning.featureChannels)")
        model = DEFTModel(prior: prior, schedule: prior.schedule, network: network)
        self.conditioning = conditioning
        sampler = DDIMSampler(schedule: prior.schedule, steps: steps, eta: eta)
        self.fineTuningSeconds = fineTuningSeconds
    }

    public var name: String { "deft" }
    public var settings: String { String(format: "DDIM, %d steps, η = %g", sampler.steps, sampler.eta) }
    public var trainedParameterCount: Int { model.network.parameterCount }

    public func reconstruct(_ y: Tensor<Float>, using generator: inout PhiloxRandom) throws -> Tensor<Float> {
        let predictor = ConditionedNoisePredictor(model: model, conditioning: conditioning.observationBatch(y))
        let initial = initialNoise(shape: imageShape(count: y.shape[0]), as: Float.self, using: &generator)
        return sampler.sample(predictor, from: initial, using: &generator)
    }
}
