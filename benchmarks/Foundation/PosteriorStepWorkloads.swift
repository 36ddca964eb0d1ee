import DEFTScoreMatching
import Foundation
import Imaging
import NeuralNetworks
import SDECore
import Samplers
import Tensors

// The two steps that conditional image sampling repeats, on the shipped prior's U-Net
// (`PriorArchitecture`'s defaults) with random weights: the cost depends on the
// architecture only, so the prior file is not read.

/// The number of DDPM steps of the schedule that `dpsStepSeconds` samples on.
let dpsScheduleSteps = 10

/// Times one DPS step on inpainting (centre 14×14 box missing, σ_y = 0.05) at batch 8:
/// ε from the prior with the graph, Tweedie's x̂₀, the residual norm of y − A(x̂₀), its
/// gradient with respect to x_t through the U-Net and the ancestral update.
///
/// `DPSSampler` has no public per-step entry, so each timed call samples on a
/// `DDPMSchedule` of `dpsScheduleSteps` steps and the median is divided by that count.
func dpsStepSeconds(steps: Int) -> Double {
    var generator = PhiloxRandom(seed: 0)
    let architecture = PriorArchitecture()
    let prior = UNetNoisePredictor(
        network: UNet<Float>(configuration: architecture.unetConfiguration, using: &generator), architecture: architecture)
    let task = ImagingTask.inpainting
    let likelihood: any GaussianObservationModel<Float> = task.observationModel()
    let sampler = DPSSampler(schedule: .linear(count: dpsScheduleSteps), scale: DPSSampler.officialScales[task.rawValue]!)

    let shape = [8, 1, ImagingTask.imageSide, ImagingTask.imageSide]
    let x0 = Tensor<Float>.uniform(shape: shape, lower: -1, upper: 1, using: &generator)
    let y = likelihood.sample(given: x0, using: &generator)
    let initial = Tensor<Float>.normal(shape: shape, using: &generator)
    let sampleSeconds = timeSteps(warmup: 1, steps: steps) {
        _ = try! sampler.sample(prior, observation: y, likelihood: likelihood, from: initial, using: &generator)
    }
    return sampleSeconds / Double(dpsScheduleSteps)
}

/// Times one DEFT fine-tuning step on inpainting at batch 16, as `DEFTTrainer.train` takes
/// it. The step draws a training batch with fresh observations and evaluates the prior's
/// ε without recording. Then the default `ImageHTransformNetwork` (base 8, multipliers
/// [1, 2, 2], 4 groups, inputs x_t, x̂₀, g, y and the mask) runs forward and backward on
/// the DEFT loss. Last come clipping at norm 1, the Adam step and the moving average.
///
/// `DEFTTrainer` runs whole trainings only, so the step is these public calls. Returns
/// the median seconds and the h-network's parameter count.
func deftStepSeconds(steps: Int) -> (seconds: Double, parameters: Int) {
    var generator = PhiloxRandom(seed: 0)
    let architecture = PriorArchitecture()
    let prior = UNetNoisePredictor(
        network: UNet<Float>(configuration: architecture.unetConfiguration, using: &generator), architecture: architecture)
    let likelihood: any GaussianObservationModel<Float> = ImagingTask.inpainting.observationModel()

    // The inpainting features of the imaging tool: y (0 on missing pixels) and the 0/1 mask.
    let mask = ImagingTask.inpaintingMask(as: Float.self)
    let features: (Tensor<Float>) -> Tensor<Float> = { y in
        Tensor.concatenate([y, mask + Tensor<Float>(zeros: [y.shape[0], 1, 1, 1])], alongAxis: 1)
    }

    let images = Tensor<Float>.uniform(shape: [64, 1, ImagingTask.imageSide, ImagingTask.imageSide], lower: -1, upper: 1, using: &generator)
    let configuration = DEFTImageFineTuningConfiguration().withObservationNoise(Double(likelihood.noiseStandardDeviation))
    let fineTuning = DEFTImageFineTuning(
        prior: prior, schedule: prior.schedule, images: images, observationModel: likelihood, features: features,
        task: "inpainting", configuration: configuration)
    let trainer = fineTuning.trainer
    let batchSize = configuration.training.batchSize
    let maximumNorm = Float(configuration.training.maximumGradientNorm ?? .infinity)

    let seconds = timeSteps(warmup: 2, steps: steps) {
        let batch = fineTuning.trainingBatch(using: &generator, size: batchSize)
        fineTuning.network.zeroGradients()
        let loss = fineTuning.model.loss(x0: batch.x0, conditioning: batch.conditioning, using: &generator)
        loss.backward()
        _ = clipGradientNorm(fineTuning.network.parameters, maxNorm: maximumNorm)
        trainer.optimizer.step()
        trainer.average.update()
    }
    return (seconds, fineTuning.network.architecture.parameterCount)
}
