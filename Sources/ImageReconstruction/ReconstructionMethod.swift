import Imaging
import SDECore
import Samplers
import Tensors

/// A way to reconstruct images of one imaging task from their observations, bound to the
/// task's observation model: DEFT, a training-free posterior sampler or the pseudo-inverse.
public protocol ReconstructionMethod {
    /// The name on the command line and in result files: `deft`, `dps`, `pigdm`, `ddrm`,
    /// `reddiff` or `pinv`.
    var name: String { get }
    /// The settings that shape the result, such as "DDIM, 100 steps", for tables.
    var settings: String { get }
    /// The parameters trained for the task: the h-network's for DEFT, 0 for training-free methods.
    var trainedParameterCount: Int { get }
    /// The wall-clock seconds spent training for the task: 0 for training-free methods,
    /// nil when unknown (a weight file that does not record it).
    var fineTuningSeconds: Double? { get }

    /// Reconstructs one image `[N, 1, 32, 32]` per observation of the batch `y` `[N, …]`,
    /// drawing any randomness (the initial noise, the sampler's noise) from `generator`.
    func reconstruct(_ y: Tensor<Float>, using generator: inout PhiloxRandom) throws -> Tensor<Float>
}

/// A method in a comparison: one that runs on the task, or one that cannot, with the reason.
public enum MethodEntry {
    case applicable(any ReconstructionMethod)
    case notApplicable(name: String, reason: String)

    public var name: String {
        switch self {
        case .applicable(let method): return method.name
        case .notApplicable(let name, _): return name
        }
    }

    /// Whether the method runs on the task.
    public var isApplicable: Bool {
        if case .applicable = self { return true }
        return false
    }
}

/// Returns the shape `[count, 1, 32, 32]` of a batch of the tasks' images.
func imageShape(count: Int) -> [Int] {
    [count, 1, ImagingTask.imageSide, ImagingTask.imageSide]
}

/// The pseudo-inverse `A⁺y` of a linear task. For blur it is the truncated SVD inverse
/// and for CT 30 CGLS iterations (see `ImagingTask.observationModel`); no randomness.
public struct PseudoInverseMethod: ReconstructionMethod {
    public let likelihood: any LinearObservationModel<Float>
    public let settings: String

    public init(likelihood: any LinearObservationModel<Float>, settings: String) {
        self.likelihood = likelihood
        self.settings = settings
    }

    public var name: String { "pinv" }
    public var trainedParameterCount: Int { 0 }
    public var fineTuningSeconds: Double? { 0 }

    public func reconstruct(_ y: Tensor<Float>, using generator: inout PhiloxRandom) throws -> Tensor<Float> {
        likelihood.pseudoInverse(y)
    }
}

/// A training-free baseline (DPS, ΠGDM, DDRM, RED-diff) on the frozen prior, started
/// from N(0, I) draws.
public struct PosteriorSamplerMethod: ReconstructionMethod {
    public let sampler: any PosteriorSampler
    public let prior: UNetNoisePredictor<Float>
    /// The observation model passed to the sampler: the task's, or for DDRM on CT its dense SVD.
    public let likelihood: any ObservationModel<Float>
    public let settings: String

    public init(sampler: any PosteriorSampler, prior: UNetNoisePredictor<Float>, likelihood: any ObservationModel<Float>, settings: String) {
        self.sampler = sampler
        self.prior = prior
        self.likelihood = likelihood
        self.settings = settings
    }

    public var name: String { sampler.name }
    public var trainedParameterCount: Int { 0 }
    public var fineTuningSeconds: Double? { 0 }

    public func reconstruct(_ y: Tensor<Float>, using generator: inout PhiloxRandom) throws -> Tensor<Float> {
        let initial = initialNoise(shape: imageShape(count: y.shape[0]), as: Float.self, using: &generator)
        return try sampler.sample(prior, observation: y, likelihood: likelihood, from: initial, using: &generator)
    }
}
