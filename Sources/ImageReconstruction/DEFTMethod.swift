import DEFTScoreMatching
import Imaging
import SDECore
import Samplers
import Tensors

/// DEFT: the frozen prior corrected by a fine-tuned h-network, ε_θ + h^φ, sampled with
/// DDIM from N(0, I) draws. Neither network is differentiated while sampling.
///
/// With `samplesPerObservation` K > 1 the reconstruction is the mean of K posterior
/// samples, a Monte Carlo estimate of the posterior mean E[x₀ | y]. For an exact posterior
/// sampler one sample has twice the mean squared error of the posterior mean, and the mean
/// of K independent samples has (1 + 1/K) times it. By default the K paths run in
/// antithetic pairs: one path's start and step noise are the negation of the other's
/// (`antitheticNoise`, `DDIMSampler.antitheticCopies`), which cancels the part of each
/// sample that is odd in its noise.
public struct DEFTMethod: ReconstructionMethod {
    public let model: DEFTModel<UNetNoisePredictor<Float>, DDPMSchedule>
    public let conditioning: TaskConditioning
    public let sampler: DDIMSampler
    /// K, the posterior samples averaged into one reconstruction.
    public let samplesPerObservation: Int
    /// The schedule step at which sampling stops and Tweedie's estimate is read out
    /// (0: the finished samples).
    public let estimateTimestep: Int
    /// Whether the K paths run in antithetic pairs, one with the negated noise of the other,
    /// rather than independently (always false for K = 1).
    public var antitheticPairs: Bool { sampler.antitheticCopies > 1 }
    public let fineTuningSeconds: Double?

    /// Creates the method for a fine-tuned `network` with the DDIM steps, η and number of
    /// averaged samples of `sampling`.
    public init(
        prior: UNetNoisePredictor<Float>, network: ImageHTransformNetwork<Float>, conditioning: TaskConditioning,
        sampling: DEFTSampling = DEFTSampling(), fineTuningSeconds: Double?
    ) {
        precondition(
            network.architecture.featureChannels == conditioning.featureChannels,
            "DEFTMethod: the h-network takes \(network.architecture.featureChannels) feature channels, the \(conditioning.task.rawValue) task gives \(conditioning.featureChannels)")
        precondition(
            sampling.estimateTimestep >= 0 && sampling.estimateTimestep < prior.schedule.count,
            "DEFTMethod: estimateTimestep \(sampling.estimateTimestep) must lie in 0..<\(prior.schedule.count), the prior schedule's steps")
        precondition(
            sampling.samplesPerObservation >= 1,
            "DEFTMethod: samplesPerObservation \(sampling.samplesPerObservation) must be at least 1")
        model = DEFTModel(prior: prior, schedule: prior.schedule, network: network)
        self.conditioning = conditioning
        var sampler = DDIMSampler(schedule: prior.schedule, steps: sampling.steps, eta: sampling.eta)
        sampler.antitheticCopies = sampling.antitheticPairs ? sampling.samplesPerObservation : 1
        self.sampler = sampler
        samplesPerObservation = sampling.samplesPerObservation
        estimateTimestep = sampling.estimateTimestep
        self.fineTuningSeconds = fineTuningSeconds
    }

    public var name: String { "deft" }

    public var settings: String {
        var text = String(format: "DDIM, %d steps, η = %g", sampler.steps, sampler.eta)
        if estimateTimestep > 0 {
            text += ", x̂₀ read at step \(estimateTimestep)"
        }
        if samplesPerObservation > 1 {
            text += ", mean of \(samplesPerObservation) samples"
            text += antitheticPairs ? " in antithetic pairs" : ""
        }
        return text
    }

    public var trainedParameterCount: Int { model.network.parameterCount }

    public func reconstruct(_ y: Tensor<Float>, using generator: inout PhiloxRandom) throws -> Tensor<Float> {
        let (predictor, initial) = tiledStart(y, using: &generator)
        let samples = sampler.denoisedEstimate(predictor, from: initial, at: estimateTimestep, using: &generator)
        return meanOverCopies(samples, count: y.shape[0])
    }

    /// Returns, for every DDIM step τ from the noisiest down, the mean squared error against
    /// `truth` of the reconstruction read out at τ, from one sampler pass. That reconstruction
    /// is the mean over the K samples of Tweedie's estimate at τ, clipped to [−1, 1] as the
    /// scores clip it.
    ///
    /// The read-out at the last step τ₁ is the reconstruction with `estimateTimestep` 0.
    public func readOutErrors(
        _ y: Tensor<Float>, truth: Tensor<Float>, using generator: inout PhiloxRandom
    ) -> [(timestep: Int, meanSquaredError: Double)] {
        precondition(
            truth.shape[0] == y.shape[0],
            "DEFTMethod: \(truth.shape[0]) ground-truth images for \(y.shape[0]) observations")
        let (predictor, initial) = tiledStart(y, using: &generator)
        var errors: [(timestep: Int, meanSquaredError: Double)] = []
        _ = sampler.sample(predictor, from: initial, using: &generator) { timestep, denoised in
            let mean = clippedToDataRange(meanOverCopies(denoised, count: y.shape[0]))
            let squaredError = zip(mean.scalars, truth.scalars).reduce(0.0) { total, pair in
                let gap = Double(pair.0 - pair.1)
                return total + gap * gap
            }
            errors.append((timestep, squaredError / Double(truth.scalars.count)))
        }
        return errors
    }

    /// Returns the predictor conditioned on K copies of the batch (rows k·N ..< (k + 1)·N hold
    /// copy k) and the N(0, I) starts of their paths, in antithetic pairs or independent.
    private func tiledStart(
        _ y: Tensor<Float>, using generator: inout PhiloxRandom
    ) -> (ConditionedNoisePredictor<UNetNoisePredictor<Float>, DDPMSchedule>, Tensor<Float>) {
        let count = y.shape[0]
        let copies = samplesPerObservation
        let tiled = copies == 1 ? y : y.gathering(atIndices: (0..<copies).flatMap { _ in 0..<count })
        let predictor = ConditionedNoisePredictor(model: model, conditioning: conditioning.observationBatch(tiled))

        // The starts are paired like the sampler's step noise. Unpaired (antitheticCopies 1),
        // they are the plain draw of all K·N starts.
        let pairing = sampler.antitheticCopies
        let start: Tensor<Float> = antitheticNoise(shape: imageShape(count: count * copies / pairing), copies: pairing, using: &generator)
        return (predictor, start)
    }

    /// Returns the mean over the K copies of each of the `count` observations.
    private func meanOverCopies(_ samples: Tensor<Float>, count: Int) -> Tensor<Float> {
        let copies = samplesPerObservation
        guard copies > 1 else { return samples }
        var mean = samples.slice(alongAxis: 0, 0..<count)
        for copy in 1..<copies {
            mean = mean + samples.slice(alongAxis: 0, copy * count..<(copy + 1) * count)
        }
        return mean * Float(1 / Double(copies))
    }
}

/// The settings of DEFT's reconstruction: DDIM steps, the DDIM noise scale η, the number of
/// posterior samples averaged per observation, how their paths' noise is drawn and the step
/// at which they are read out.
///
/// The defaults, 100 steps, η = 1 and the mean of 4 samples in antithetic pairs, are those
/// of `deft demo`, `deft evaluate` and the imaging benchmark. A single sample (K = 1) is a
/// draw from the learned posterior. The mean of 4 independent samples has, for an exact
/// sampler, 1.25 times the error of the posterior mean against 2 times for one sample, so
/// about 2 dB more PSNR, for 4 times the sampling cost.
///
/// Antithetic pairs lower the error further at no cost. A sample is a function F of its
/// noise (the start and, for η > 0, every step's draw), and the mean of a pair whose noise
/// is mirrored, ½ (F(ξ) + F(−ξ)), keeps only the even part of F: for a Gaussian posterior F
/// is affine and the pair mean is the exact posterior mean. η = 1 (each step adds DDPM's
/// posterior variance) lets later steps correct the errors of the h-network's earlier
/// ones, which the deterministic η = 0 carries to the end. On the first 16 evaluation
/// images of every task, with the same fine-tuned networks, pairs and η = 1 together
/// gained 0.7 dB (HDR) to 2.8 dB (phase retrieval) over independent samples with η = 0
/// (docs/DEFT.md, "Sampling").
public struct DEFTSampling: Sendable, Equatable {
    public var steps: Int
    public var eta: Double
    public var samplesPerObservation: Int
    /// t*, the schedule step (0-based) at which each sample's path stops and Tweedie's
    /// estimate x̂₀(x_t*, y), made with ε_θ + h^φ, is taken in place of the finished sample:
    /// the DDIM steps below t* are skipped. 0 keeps every step.
    public var estimateTimestep: Int
    /// Whether the K paths run in antithetic pairs rather than on independent draws. In a
    /// pair, one path's start and step noise are the negation of the other's
    /// (`antitheticNoise`, `DDIMSampler.antitheticCopies`). Each sample keeps its law
    /// either way.
    public var antitheticPairs: Bool

    public init(
        steps: Int = 100, eta: Double = 1, samplesPerObservation: Int = 4, estimateTimestep: Int = 0, antitheticPairs: Bool = true
    ) {
        self.steps = steps
        self.eta = eta
        self.samplesPerObservation = samplesPerObservation
        self.estimateTimestep = estimateTimestep
        self.antitheticPairs = antitheticPairs
    }
}
