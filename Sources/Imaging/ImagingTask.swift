import SDECore
import Tensors

/// The six inverse problems on 32 × 32 Fashion-MNIST images that the library's fine-tuning,
/// baselines, command-line tool and benchmarks share, each with its standard operator and
/// noise level (images in [−1, 1]).
///
/// | task | operator | σ_y |
/// | --- | --- | ---: |
/// | inpainting | the centre 14 × 14 box missing | 0.05 |
/// | super-resolution | 4 × 4 average pooling to 8 × 8 | 0.05 |
/// | blur | 9 × 9 Gaussian kernel, standard deviation 2 px, reflected edges | 0.05 |
/// | ct | parallel-beam Radon transform at 16 angles | 0.1 |
/// | hdr | y = clip(2x, −1, 1) | 0.05 |
/// | phase-retrieval | magnitudes of the 2× oversampled DFT | 0.05 |
public enum ImagingTask: String, CaseIterable, Sendable {
    case inpainting
    case superResolution = "super-resolution"
    case blur
    case ct
    case hdr
    case phaseRetrieval = "phase-retrieval"

    /// The image side the operators are built for.
    public static let imageSide = 32

    /// A one-line description with the operator's settings, for tables and logs.
    public var summary: String {
        switch self {
        case .inpainting: return "inpainting, centre 14×14 box missing, σ_y = 0.05"
        case .superResolution: return "4× super-resolution (average pooling), σ_y = 0.05"
        case .blur: return "Gaussian blur, 9×9 kernel, s = 2 px, σ_y = 0.05"
        case .ct: return "CT, parallel beam at 16 angles, σ_y = 0.1"
        case .hdr: return "HDR, y = clip(2x, −1, 1), σ_y = 0.05"
        case .phaseRetrieval: return "phase retrieval, magnitudes of the 2× oversampled DFT, σ_y = 0.05"
        }
    }

    /// Whether the operator is linear (inpainting, super-resolution, blur and CT).
    public var isLinear: Bool {
        switch self {
        case .inpainting, .superResolution, .blur, .ct: return true
        case .hdr, .phaseRetrieval: return false
        }
    }

    /// Returns the inpainting task's 0/1 mask `[1, 1, 32, 32]`, 1 on observed pixels.
    public static func inpaintingMask<Scalar: TensorScalar>(as type: Scalar.Type = Scalar.self) -> Tensor<Scalar> {
        InpaintingMask.box(height: imageSide, width: imageSide, top: 9, left: 9, boxHeight: 14, boxWidth: 14)
    }

    /// Builds the task's observation model for a batch of any size.
    ///
    /// CT's pseudo-inverse is 30 CGLS iterations on AᵀA x = Aᵀy. Stopped early, CGLS
    /// regularises, while run to convergence it fits the noise.
    public func observationModel<Scalar: TensorScalar>(as type: Scalar.Type = Scalar.self) -> any GaussianObservationModel<Scalar> {
        let side = Self.imageSide
        switch self {
        case .inpainting:
            return InpaintingOperator(mask: Self.inpaintingMask(as: Scalar.self), noiseStandardDeviation: 0.05)
        case .superResolution:
            return SuperResolutionOperator<Scalar>(factor: 4, height: side, width: side, noiseStandardDeviation: 0.05)
        case .blur:
            return GaussianBlurOperator<Scalar>(
                kernelSize: 9, blurStandardDeviation: 2, padding: .reflect, height: side, width: side,
                noiseStandardDeviation: 0.05, pseudoInverseCutoff: 0.1)
        case .ct:
            return RadonTransformOperator<Scalar>(
                height: side, width: side, angleCount: 16, noiseStandardDeviation: 0.1, pseudoInverseIterations: 30)
        case .hdr:
            return HighDynamicRangeOperator<Scalar>(noiseStandardDeviation: 0.05)
        case .phaseRetrieval:
            return PhaseRetrievalOperator<Scalar>(height: side, width: side, oversampling: 2, noiseStandardDeviation: 0.05)
        }
    }

    /// Parses a task name as the command-line tool spells it (`inpainting`,
    /// `super-resolution`, `blur`, `ct`, `hdr`, `phase-retrieval`).
    public init?(name: String) {
        self.init(rawValue: name)
    }
}
