import DEFTScoreMatching
import Imaging
import SDECore
import Tensors

/// The extra input images of each task's DEFT h-network, next to x_t, x̂₀ and g: the
/// observation brought to the image grid, so that the network can read y directly.
///
/// | task | feature channels |
/// | --- | --- |
/// | inpainting | y (0 on missing pixels) and the 0/1 mask |
/// | super-resolution, blur, ct | A⁺y |
/// | hdr | y |
/// | phase-retrieval | none: the magnitudes have no image-grid inverse |
public struct TaskConditioning {
    public let task: ImagingTask
    public let likelihood: any GaussianObservationModel<Float>

    public init(task: ImagingTask, likelihood: any GaussianObservationModel<Float>) {
        self.task = task
        self.likelihood = likelihood
    }

    /// The number of feature channels, the h-network's `featureChannels`.
    public var featureChannels: Int {
        switch task {
        case .inpainting: return 2
        case .superResolution, .blur, .ct, .hdr: return 1
        case .phaseRetrieval: return 0
        }
    }

    /// Returns the feature images `[N, featureChannels, 32, 32]` of observations `y` `[N, …]`,
    /// or nil for a task without features.
    public func features(_ y: Tensor<Float>) -> Tensor<Float>? {
        switch task {
        case .inpainting:
            let mask = ImagingTask.inpaintingMask(as: Float.self)
            let masks = mask + Tensor<Float>(zeros: [y.shape[0], 1, 1, 1])
            return Tensor.concatenate([y, masks], alongAxis: 1)
        case .superResolution, .blur, .ct:
            guard let linear = likelihood as? any LinearObservationModel<Float> else {
                preconditionFailure("TaskConditioning: the \(task.rawValue) model \(type(of: likelihood)) is not linear")
            }
            return linear.pseudoInverse(y)
        case .hdr:
            return y
        case .phaseRetrieval:
            return nil
        }
    }

    /// Returns the observations `y` with their likelihood and features, as the DEFT model takes them.
    public func observationBatch(_ y: Tensor<Float>) -> ObservationBatch<Float> {
        ObservationBatch(observation: y, likelihood: likelihood, features: features(y))
    }
}
