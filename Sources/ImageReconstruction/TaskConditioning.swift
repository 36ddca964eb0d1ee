import DEFTScoreMatching
import Imaging
import SDECore
import Samplers
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
    /// The model that DEFT samples training observations from and forms g with. It is the
    /// task's own, except for CT. There it is the dense SVD of the Radon matrix
    /// (`DenseSingularValueObservation`, which delegates sampling and the likelihood to the
    /// task's model), so the Gaussian posterior gradient costs two matrix products instead
    /// of conjugate-gradient iterations, and the A⁺y feature runs its CGLS iterations on
    /// the diagonal Σ instead of the Radon transform.
    public let guidanceLikelihood: any ObservationModel<Float>

    public init(task: ImagingTask, likelihood: any GaussianObservationModel<Float>) {
        self.task = task
        self.likelihood = likelihood
        guidanceLikelihood = Self.guidanceModel(task: task, likelihood: likelihood)
    }

    /// Returns the dense SVD of CT's operator, or `likelihood` itself for the other tasks.
    private static func guidanceModel(
        task: ImagingTask, likelihood: any GaussianObservationModel<Float>
    ) -> any ObservationModel<Float> {
        guard task == .ct, let linear = likelihood as? any LinearObservationModel<Float> else {
            return likelihood
        }
        // NOTE: if LAPACK fails to factor the matrix, g falls back to conjugate gradients on
        // the task's model, which give the same values more slowly.
        let shape = Array(imageShape(count: 1).dropFirst())
        return (try? DenseSingularValueObservation(wrapping: linear, signalShape: shape)) ?? likelihood
    }

    /// The number of feature channels, the h-network's `featureChannels`.
    public var featureChannels: Int { Self.featureChannels(for: task) }

    /// Returns the number of feature channels of `task`, without building its conditioning
    /// (which factors CT's operator).
    public static func featureChannels(for task: ImagingTask) -> Int {
        switch task {
        case .inpainting: return 2
        case .superResolution, .blur, .ct, .hdr: return 1
        case .phaseRetrieval: return 0
        }
    }

    /// The form of the h-network's likelihood input: the Gaussian posterior gradient
    /// Aᵀ(σ_y² I + r_t² A Aᵀ)⁻¹(y − A x̂₀) for linear tasks, whose operators' singular values
    /// spread widely for blur and CT, and ∇ ln p(y | x̂₀) for HDR and phase retrieval.
    public var likelihoodGuidance: LikelihoodGuidance {
        likelihood is any LinearObservationModel<Float> ? .gaussianPosterior : .gradient
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
            if let radon = likelihood as? RadonTransformOperator<Float>, let spectral = guidanceLikelihood as? DenseSingularValueObservation<Float> {
                // CT's A⁺y is the operator's CGLS iteration, run in the singular basis, so it
                // costs two matrix products in all instead of two Radon transforms per step.
                return spectral.conjugateGradientLeastSquares(
                    y, iterations: radon.pseudoInverseIterations, relativeTolerance: radon.pseudoInverseTolerance)
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
        ObservationBatch(observation: y, likelihood: guidanceLikelihood, features: features(y))
    }
}
