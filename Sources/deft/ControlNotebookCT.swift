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
        let (report, folder) = try ControlCTRun(settings: settings) { _ in }.run {
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            return scratch
        }
        let grid = try Data(contentsOf: folder.appendingPathComponent("samples.png"))
        try writeAtomically(grid, to: figures.appendingPathComponent("control-ct-samples.png"))

        let verdict = report.sampleMeanPSNR > report.initialMeanPSNR
            ? "Training raised the sample mean's PSNR above that of the initial guidance"
            : "Training did not raise the sample mean's PSNR above that of the initial guidance"
        let comparison = report.sampleMeanPSNR > report.pseudoInversePSNR
            ? "and the trained sample mean beats A⁺y by CGLS." : "and neither sample mean beats A⁺y by CGLS."
        return """

            ## Few-angle CT on the image prior

            `deft control --problem ct` conditions the shipped Fashion-MNIST prior on a CT observation of
            evaluation image 0 (\(ImagingTask.ct.summary)). The control is
            `ImageLikelihoodInformedHTransform`: a U-Net whose output starts at zero, plus a learned factor
            on the reconstruction-guidance term g / √ᾱ(t) that starts at \(report.guidanceScale) ᾱ(t). The
            defaults train by VarGrad on detached paths: \(settings.trainingSteps) Adam steps of
            \(settings.batchSize) paths on \(settings.steps) Euler–Maruyama steps, learning rate
            \(settings.learningRate), then \(settings.sampleCount) samples.

            ```sh
            deft control --problem ct
            ```

            ```
            \(ControlCTCommand.text(report))
            ```

            \(verdict), \(comparison) Peak resident memory: \(report.peakResidentKilobytes.map { "\($0 / 1024) MB" } ?? "not measured").
            The step times are wall-clock on 2 cores and include whatever else the machine was running.

            ![Truth, A⁺y, sample means before and after training, then the samples](figures/control-ct-samples.png)

            """
    }
}
