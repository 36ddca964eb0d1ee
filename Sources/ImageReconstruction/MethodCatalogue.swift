import Foundation
import Imaging
import SDECore
import Samplers
import Tensors

/// The step counts of the training-free baselines; nil keeps the published default.
///
/// DPS has no step option: it runs every step of the prior's schedule (1000 for the
/// shipped prior), as published.
public struct BaselineSteps: Sendable {
    /// ΠGDM's DDIM steps, 100 by default.
    public var pigdm: Int?
    /// DDRM's steps, 20 by default.
    public var ddrm: Int?
    /// RED-diff's optimisation steps, one per schedule step by default.
    public var reddiff: Int?

    public init(pigdm: Int? = nil, ddrm: Int? = nil, reddiff: Int? = nil) {
        self.pigdm = pigdm
        self.ddrm = ddrm
        self.reddiff = reddiff
    }
}

/// Builds the comparison's methods for a task by name.
public enum MethodCatalogue {
    /// Every method name, in table order.
    public static let names = ["deft", "dps", "pigdm", "ddrm", "reddiff", "pinv"]
    /// The training-free baselines.
    public static let baselineNames = ["dps", "pigdm", "ddrm", "reddiff"]

    /// Returns the baseline `name` (one of `baselineNames`) on `task` with the shipped
    /// defaults, or why it does not apply.
    ///
    /// DPS takes the official code's scale for the task (`DPSSampler.officialScales`) and the
    /// code's default 1 for tasks it has no configuration for (CT, HDR). ΠGDM gets σ_y on
    /// nonlinear tasks, for its isotropic approximation. DDRM runs on CT through the dense
    /// SVD of the Radon matrix (`DenseSingularValueObservation`, about a second to factor).
    public static func baseline(
        _ name: String, task: ImagingTask, likelihood: any GaussianObservationModel<Float>,
        prior: UNetNoisePredictor<Float>, steps: BaselineSteps = BaselineSteps()
    ) throws -> MethodEntry {
        let schedule = prior.schedule
        func limited(_ requested: Int?, default published: Int) -> Int {
            Swift.min(requested ?? published, schedule.count)
        }

        switch name {
        case "dps":
            let official = DPSSampler.officialScales[task.rawValue]
            let sampler = DPSSampler(schedule: schedule, scale: official ?? 1)
            let source = official == nil ? "the official code's default" : "official FFHQ scale"
            let settings = String(format: "%d DDPM steps, ζ = %g (%@)", schedule.count, sampler.scale, source)
            return .applicable(PosteriorSamplerMethod(sampler: sampler, prior: prior, likelihood: likelihood, settings: settings))

        case "pigdm":
            let steps = limited(steps.pigdm, default: 100)
            let sigma = task.isLinear ? nil : Double(likelihood.noise.standardDeviation)
            let sampler = PiGDMSampler(schedule: schedule, steps: steps, noiseStandardDeviation: sigma)
            var settings = String(format: "DDIM, %d steps, η = %g, w = %g", steps, sampler.eta, sampler.guidanceWeight)
            if !task.isLinear { settings += ", isotropic A Aᵀ ≈ I" }
            return .applicable(PosteriorSamplerMethod(sampler: sampler, prior: prior, likelihood: likelihood, settings: settings))

        case "ddrm":
            let steps = limited(steps.ddrm, default: 20)
            let sampler = DDRMSampler(schedule: schedule, steps: steps)
            var settings = String(format: "%d steps, η = %g, η_b = %g", steps, sampler.eta, sampler.etaB)
            let model: any ObservationModel<Float>
            if likelihood is any SingularValueObservationModel<Float> {
                model = likelihood
            } else if let linear = likelihood as? any LinearObservationModel<Float> {
                model = try DenseSingularValueObservation(wrapping: linear, signalShape: Array(imageShape(count: 1).dropFirst()))
                settings += ", dense SVD of A"
            } else {
                return .notApplicable(name: name, reason: "DDRM needs a linear operator with an SVD; \(task.rawValue) is nonlinear")
            }
            return .applicable(PosteriorSamplerMethod(sampler: sampler, prior: prior, likelihood: model, settings: settings))

        case "reddiff":
            let steps = limited(steps.reddiff, default: schedule.count)
            let sampler = REDDiffSampler(schedule: schedule, steps: steps)
            let start = task.isLinear ? "from A⁺y" : "from N(0, I)"
            let settings = String(
                format: "%d steps, λ = %g, Adam, learning rate %g, %@", steps, sampler.regularizationWeight, sampler.learningRate, start)
            return .applicable(PosteriorSamplerMethod(sampler: sampler, prior: prior, likelihood: likelihood, settings: settings))

        default:
            preconditionFailure("MethodCatalogue.baseline: '\(name)' is not one of \(baselineNames)")
        }
    }

    /// Returns A⁺y for a linear task, or why it does not apply.
    public static func pseudoInverse(task: ImagingTask, likelihood: any GaussianObservationModel<Float>) -> MethodEntry {
        guard let linear = likelihood as? any LinearObservationModel<Float> else {
            return .notApplicable(name: "pinv", reason: "\(task.rawValue) is nonlinear, so A has no pseudo-inverse")
        }
        let settings: String
        switch task {
        case .inpainting: settings = "A⁺y: missing pixels set to 0"
        case .superResolution: settings = "A⁺y: nearest-neighbour upsampling"
        case .blur: settings = "A⁺y: truncated SVD, factor singular values > 0.1 of the largest"
        case .ct: settings = "A⁺y: 30 CGLS iterations"
        case .hdr, .phaseRetrieval: settings = "A⁺y"
        }
        return .applicable(PseudoInverseMethod(likelihood: linear, settings: settings))
    }

    /// Parses a comma-separated list of method names, keeping table order and dropping
    /// repeats. Returns nil when a name is unknown.
    public static func parseList(_ text: String) -> [String]? {
        let requested = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !requested.isEmpty, requested.allSatisfy(names.contains) else { return nil }
        return names.filter(requested.contains)
    }
}
