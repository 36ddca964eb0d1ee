import Foundation
import Imaging
import Tensors

extension ControlNotebook {
    /// Runs `deft control --problem ct` with its defaults (tiny sizes when quick) and returns
    /// the page's CT section, copying the run's sample grid into `figures`.
    func ctSection(figures: URL) throws -> String {
        var settings = ControlCTSettings(
            priorPath: SampleCommand.defaultPriorPath, imageIndex: 0, objective: "vargrad", gradient: "detached",
            steps: ControlCTCommand.defaultSteps, trainingSteps: ControlCTCommand.defaultTrainingSteps,
            batchSize: ControlCTCommand.defaultBatchSize, learningRate: ControlCTCommand.defaultLearningRate,
            guidanceScale: ControlCTCommand.defaultGuidanceScale, sampleCount: ControlCTCommand.defaultSampleCount, seed: 0)
        if isQuick {
            settings.steps = 4
            settings.trainingSteps = 2
            settings.batchSize = 2
            settings.sampleCount = 2
        }
        Log.info("notebook: training the CT control")
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("deft-control-ct-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let cpuBefore = processCPUSeconds()
        let started = Date()
        let (report, folder) = try ControlCTRun(settings: settings) { _ in }.run {
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            return scratch
        }
        let wallSeconds = Date().timeIntervalSince(started)
        let cpuSeconds = processCPUSeconds() - cpuBefore
        let grid = try Data(contentsOf: folder.appendingPathComponent("samples.png"))
        try writeAtomically(grid, to: figures.appendingPathComponent("control-ct-samples.png"))

        let verdict = report.sampleMeanPSNR > report.initialMeanPSNR
            ? "Training raised the sample mean's PSNR above that of the initial guidance"
            : "Training did not raise the sample mean's PSNR above that of the initial guidance"
        let comparison = report.sampleMeanPSNR > report.pseudoInversePSNR
            ? "and the trained sample mean beats A⁺y by CGLS." : "and neither sample mean beats A⁺y by CGLS."
        let lowestLoss = report.losses.min() ?? .nan
        let highestLoss = report.losses.max() ?? .nan
        let peak = report.peakResidentKilobytes.map { "\($0 / 1024) MB" } ?? "not measured"
        return """

            ## Few-angle CT on the image prior

            `deft control --problem ct` conditions the shipped Fashion-MNIST prior on an observation of
            evaluation image 0 (\(ImagingTask.ct.summary)). The control is
            `ImageLikelihoodInformedHTransform`: a U-Net with 16 and 32 channels
            (\(report.controlParameters) parameters with the guidance factor) whose output starts at zero, plus a
            learned factor on the reconstruction-guidance term g / √ᾱ(t) that starts at \(report.guidanceScale) ᾱ(t).
            In an earlier run with a factor of 0.001 ᾱ(t), the initial paths diverged on the default
            50-step grid. The defaults train by VarGrad on detached paths: \(settings.trainingSteps) Adam steps
            of \(settings.batchSize) paths on \(settings.steps) Euler–Maruyama steps, learning rate \(settings.learningRate), then
            \(settings.sampleCount) samples.

            ```sh
            deft control --problem ct
            ```

            ```
            \(ControlCTCommand.text(report))
            ```

            \(verdict),
            \(comparison)
            The batch loss ranged from \(String(format: "%.3g", lowestLoss)) to \(String(format: "%.3g", highestLoss)) over the training steps,
            and in an earlier run a learning rate of 0.01 diverged at step 5. The single samples keep
            background speckle, because the grid ends at t = 0 without a final denoising step.

            The step times are wall-clock on \(ProcessInfo.processInfo.activeProcessorCount) cores and include whatever else the machine
            was running: the run used \(String(format: "%.0f s", cpuSeconds)) of CPU in \(String(format: "%.0f s", wallSeconds)). The peak
            resident memory of this notebook's process, which ran the sections above first, was
            \(peak). Run alone, an earlier `deft control --problem ct` peaked at 80 MB.

            ![Truth, A⁺y, sample means before and after training, then the \(settings.sampleCount) samples](figures/control-ct-samples.png)

            """
    }
}

/// Returns the CPU time, user and system, that this process has used so far, in seconds.
private func processCPUSeconds() -> Double {
    var time = timespec()
    guard clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time) == 0 else { return .nan }
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
