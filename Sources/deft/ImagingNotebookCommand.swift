import Foundation
import Imaging
import SDECore
import Samplers
import Tensors

/// `deft imaging-notebook`: makes the figures and prints the numbers of notebooks-md/imaging.md.
enum ImagingNotebookCommand {
    static let help = """
        usage: deft imaging-notebook [options]

        Writes the PNG figures of notebooks-md/imaging.md into --output and prints, in
        Markdown, every number the page quotes: the data, each image operator applied to
        evaluation images with a baseline reconstruction and its PSNR, SSIM and classifier
        top-1 accuracy, and samples of the shipped prior with their timings and the
        classifier's label counts. Takes several minutes on two cores.

        options:
          --prior FILE        prior file (default models/fashion-mnist-prior.safetensors)
          --classifier FILE   classifier weights (default models/fashion-classifier.safetensors)
          --images N          evaluation images for the metrics table (default 100)
          --samples N         prior samples for the label counts (default 128)
          --seed N            seed of the observation noise and the samplers (default 0)
          --data DIR          folder of the Fashion-MNIST files (default /usr/share/datasets/fashion-mnist)
          --output DIR        folder of the figures (default notebooks-md/imaging)
          --quick             compare only the two shortest samplers (DDIM with 10 steps
                              and the probability-flow ODE), to check the generator in
                              seconds with small --images and --samples
          --quiet             no progress on standard error
          --help              show this text
        """

    static func run(_ arguments: [String]) throws {
        if arguments.contains("--help") {
            print(help)
            return
        }
        let options = try CommandLineOptions(
            command: "imaging-notebook", arguments: arguments,
            valued: ["prior", "classifier", "images", "samples", "seed", "data", "output"], boolean: ["quiet", "quick"])
        Log.isQuiet = options.flag("quiet")
        let imageCount = try options.int("images", default: 100, range: 8...1000)
        let sampleCount = try options.int("samples", default: 128, range: 8...10_000)
        let seed = UInt64(try options.int("seed", default: 0, range: 0...Int.max))
        let directory = options.string("data").map { URL(fileURLWithPath: $0) } ?? FashionMNIST.defaultDirectory
        let output = URL(fileURLWithPath: options.string("output") ?? "notebooks-md/imaging")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)

        let prior = try UNetNoisePredictor<Float>(contentsOf: URL(fileURLWithPath: options.string("prior") ?? SampleCommand.defaultPriorPath))
        let classifier = try FashionClassifier<Float>(
            contentsOf: URL(fileURLWithPath: options.string("classifier") ?? FashionClassifier<Float>.defaultWeightsPath))
        let evaluation = try FashionMNIST.load(.evaluation, as: Float.self, paddedTo32: true, directory: directory)

        print("## Data\n")
        try dataSection(evaluation, classifier: classifier, output: output)
        print("\n## Operators\n")
        try operatorSection(evaluation, imageCount: imageCount, classifier: classifier, seed: seed, output: output)
        print("\n## Prior samples\n")
        try samplesSection(prior, classifier: classifier, sampleCount: sampleCount, seed: seed, output: output, isQuick: options.flag("quick"))
    }

    // MARK: - Data

    static func dataSection(_ evaluation: (images: Tensor<Float>, labels: [Int]), classifier: FashionClassifier<Float>, output: URL) throws {
        // The first two evaluation images of each class, one class per column.
        var indices: [Int] = []
        for row in 0..<2 {
            for label in 0..<10 {
                indices.append(evaluation.labels.indices.filter { evaluation.labels[$0] == label }[row])
            }
        }
        let grid = imageGrid(SampleCommand.zoomed(evaluation.images.gathering(atIndices: indices), by: 2), rows: 2, columns: 10)
        try grid.writePNG(to: output.appendingPathComponent("data.png"))
        print("columns of data.png, left to right: " + FashionMNIST.classNames.joined(separator: ", "))

        let accuracy = classifier.accuracy(evaluation.images, labels: evaluation.labels)
        print(String(format: "classifier top-1 accuracy on the 1000 evaluation images: %.1f %%", 100 * accuracy))
    }

    // MARK: - Operators

    /// An operator with its baseline reconstruction and the way its observations are shown.
    struct OperatorCase {
        var name: String
        var file: String
        var model: any ObservationModel<Float>
        /// The baseline reconstruction from y, in the image's [−1, 1] scale.
        var reconstruct: ((Tensor<Float>) -> Tensor<Float>)?
        var baseline: String
        /// The transform applied to observations before they are stretched to the gray range.
        var showObservation: (Tensor<Float>) -> Tensor<Float> = { $0 }
    }

    static func operatorCases() -> [OperatorCase] {
        let box: Tensor<Float> = InpaintingMask.box(height: 32, width: 32, top: 9, left: 9, boxHeight: 14, boxWidth: 14)
        let inpainting = InpaintingOperator(mask: box, noiseStandardDeviation: 0.05)
        let superResolution = SuperResolutionOperator<Float>(factor: 4, height: 32, width: 32, noiseStandardDeviation: 0.05)
        let blur = GaussianBlurOperator<Float>(
            kernelSize: 9, blurStandardDeviation: 2, padding: .reflect, height: 32, width: 32, noiseStandardDeviation: 0.05,
            pseudoInverseCutoff: 0.1)
        // CGLS stopped after 30 iterations regularises: run to convergence, it fits the noise.
        let radon = RadonTransformOperator<Float>(
            height: 32, width: 32, angleCount: 16, noiseStandardDeviation: 0.1, pseudoInverseIterations: 30)
        let phase = PhaseRetrievalOperator<Float>(height: 32, width: 32, oversampling: 2, noiseStandardDeviation: 0.05)
        let hdr = HighDynamicRangeOperator<Float>(noiseStandardDeviation: 0.05)
        return [
            OperatorCase(
                name: "inpainting, 14×14 box missing, σ_y = 0.05", file: "inpainting.png", model: inpainting,
                reconstruct: { inpainting.pseudoInverse($0) }, baseline: "A⁺y (missing box set to 0)"),
            OperatorCase(
                name: "4× super-resolution, σ_y = 0.05", file: "super-resolution.png", model: superResolution,
                reconstruct: { superResolution.pseudoInverse($0) }, baseline: "A⁺y (nearest-neighbour upsampling)"),
            OperatorCase(
                name: "Gaussian blur, 9×9, s = 2 px, σ_y = 0.05", file: "blur.png", model: blur,
                reconstruct: { blur.pseudoInverse($0) }, baseline: "truncated SVD inverse (factor singular values > 0.1 of the largest)"),
            OperatorCase(
                name: "CT, 16 angles, σ_y = 0.1", file: "ct.png", model: radon,
                reconstruct: { radon.pseudoInverse($0) }, baseline: "30 CGLS iterations on AᵀA x = Aᵀy"),
            OperatorCase(
                name: "phase retrieval, magnitudes of the 2× oversampled DFT, σ_y = 0.05", file: "phase-retrieval.png",
                model: phase, reconstruct: nil, baseline: "none (no linear inverse)",
                showObservation: { ImageDisplay.centredSpectrum(log($0.applying(.abs) + 0.05)) }),
            OperatorCase(
                name: "HDR, y = clip(2x, −1, 1), σ_y = 0.05", file: "hdr.png", model: hdr,
                reconstruct: { $0 * 0.5 }, baseline: "y / 2 (exact where not saturated)"),
        ]
    }

    static func operatorSection(
        _ evaluation: (images: Tensor<Float>, labels: [Int]), imageCount: Int, classifier: FashionClassifier<Float>,
        seed: UInt64, output: URL
    ) throws {
        let truth = evaluation.images.slice(alongAxis: 0, 0..<imageCount)
        let labels = Array(evaluation.labels[0..<imageCount])
        let truthAccuracy = classifier.accuracy(truth, labels: labels)
        print(String(format: "The first %d evaluation images; classifier top-1 on the clean images: %.1f %%.\n", imageCount, 100 * truthAccuracy))
        print("| operator | observation shape | baseline | PSNR (dB) | SSIM | top-1 |")
        print("| --- | --- | --- | ---: | ---: | ---: |")

        for (index, operatorCase) in operatorCases().enumerated() {
            let start = Date()
            var generator = PhiloxRandom(seed: seed).split(UInt64(index))
            let observations = operatorCase.model.sample(given: truth, using: &generator)

            // Figure: 8 images, their observations scaled to fill the gray range, and the baseline.
            let shown = truth.slice(alongAxis: 0, 0..<8)
            var rows = [displayed(shown, size: 32)]
            rows.append(displayed(ImageDisplay.stretched(operatorCase.showObservation(observations.slice(alongAxis: 0, 0..<8))), size: 32))
            var metrics = "| — | — | — |"
            if let reconstruct = operatorCase.reconstruct {
                let reconstructions = reconstruct(observations)
                rows.append(displayed(reconstructions.slice(alongAxis: 0, 0..<8), size: 32))
                let clipped = clippedToData(reconstructions)
                let psnr = mean(peakSignalToNoiseRatio(unitIntervalImages(fromSymmetric: clipped), reference: unitIntervalImages(fromSymmetric: truth)))
                let ssim = mean(structuralSimilarity(unitIntervalImages(fromSymmetric: clipped), reference: unitIntervalImages(fromSymmetric: truth)))
                let top1 = classifier.accuracy(clipped, labels: labels)
                metrics = String(format: "| %.2f | %.3f | %.1f %% |", psnr, ssim, 100 * top1)
            }
            let grid = imageGrid(SampleCommand.zoomed(Tensor.concatenate(rows, alongAxis: 0), by: 2), rows: rows.count, columns: 8)
            try grid.writePNG(to: output.appendingPathComponent(operatorCase.file))

            let shape = Array(observations.shape[1...]).map(String.init).joined(separator: "×")
            print("| \(operatorCase.name) | \(shape) | \(operatorCase.baseline) \(metrics)")
            Log.info(String(format: "%@: %.1f s", operatorCase.name, Date().timeIntervalSince(start)))
        }
        print("\nPSNR and SSIM are computed on [0, 1] images after clipping the reconstruction to [−1, 1]; top-1 is the classifier's accuracy on the clipped reconstructions.")
    }

    /// Returns images resized to `size × size` for a figure row: nearest-neighbour
    /// upsampling or average pooling for square images whose side divides or is a multiple
    /// of `size`, cropping or padding with −1 to the top-left `size × size` corner otherwise.
    static func displayed(_ images: Tensor<Float>, size: Int) -> Tensor<Float> {
        let (height, width) = (images.shape[2], images.shape[3])
        if height == width && height < size && size % height == 0 {
            return upsampleNearest2d(images, factor: size / height)
        }
        if height == width && height > size && height % size == 0 {
            return avgPool2d(images, kernelSize: height / size)
        }
        var result = images
        if height > size { result = result.slice(alongAxis: 2, 0..<size) }
        if width > size { result = result.slice(alongAxis: 3, 0..<size) }
        if result.shape[2] < size {
            result = Tensor.concatenate([result, Tensor(shape: [result.shape[0], 1, size - result.shape[2], result.shape[3]], repeating: -1)], alongAxis: 2)
        }
        if result.shape[3] < size {
            result = Tensor.concatenate([result, Tensor(shape: [result.shape[0], 1, size, size - result.shape[3]], repeating: -1)], alongAxis: 3)
        }
        return result
    }

    static func clippedToData(_ images: Tensor<Float>) -> Tensor<Float> {
        images.applying(.maximum, Tensor(shape: [1], repeating: -1)).applying(.minimum, Tensor(shape: [1], repeating: 1))
    }

    static func mean(_ values: [Double]) -> Double {
        values.reduce(0, +) / Double(values.count)
    }

    // MARK: - Prior samples

    static func samplesSection(
        _ prior: UNetNoisePredictor<Float>, classifier: FashionClassifier<Float>, sampleCount: Int, seed: UInt64, output: URL,
        isQuick: Bool = false
    ) throws {
        let schedule = prior.schedule
        let process = ContinuousDDPM(schedule: schedule)

        // The main grid and the label counts: DDIM, 100 steps, η = 0.
        let ddim = SampleCommand.NamedSampler(name: "DDIM, 100 steps, η = 0", sampler: DDIMSampler(schedule: schedule, steps: 100))
        let start = Date()
        let samples = try SampleCommand.drawSamples(prior, sampler: ddim, count: sampleCount, batchSize: 64, seed: seed)
        let seconds = Date().timeIntervalSince(start)
        let shown = Swift.min(sampleCount, 64)
        try imageGrid(SampleCommand.zoomed(samples.slice(alongAxis: 0, 0..<shown), by: 2), rows: (shown + 7) / 8, columns: 8)
            .writePNG(to: output.appendingPathComponent("samples-ddim100.png"))
        print(String(format: "%@: %d samples in %.1f s (%.3f s per image); samples-ddim100.png shows the first %d.", ddim.name, sampleCount, seconds, seconds / Double(sampleCount), shown))
        SampleCommand.printPixelSummary(samples)
        print("\n```\n" + SampleCommand.labelDistribution(classifier.predictedClasses(samples)) + "\n```\n")

        // The other samplers on 8 images each: timings and a row of the comparison figure.
        let all: [SampleCommand.NamedSampler] = [
            SampleCommand.NamedSampler(name: "DDIM, 10 steps, η = 0", sampler: DDIMSampler(schedule: schedule, steps: 10)),
            SampleCommand.NamedSampler(name: "DDIM, 100 steps, η = 1", sampler: DDIMSampler(schedule: schedule, steps: 100, eta: 1)),
            SampleCommand.NamedSampler(name: "DDPM ancestral, 1000 steps", sampler: DDPMSampler(schedule: schedule)),
            SampleCommand.NamedSampler(name: "reverse SDE, Euler–Maruyama, 1000 steps", sampler: ReverseSDESampler(process: process, steps: 1000)),
            SampleCommand.NamedSampler(name: "probability-flow ODE, Heun, 50 steps", sampler: ProbabilityFlowSampler(process: process, steps: 50)),
        ]
        let others = isQuick ? [all[0], all[all.count - 1]] : all
        print("| sampler | model calls | seconds for 8 images | top-1 labels of the 8 |")
        print("| --- | ---: | ---: | --- |")
        var rows: [Tensor<Float>] = []
        for sampler in others {
            let start = Date()
            let batch = try SampleCommand.drawSamples(prior, sampler: sampler, count: 8, batchSize: 8, seed: seed + 1)
            let seconds = Date().timeIntervalSince(start)
            rows.append(batch)
            let names = classifier.predictedClasses(batch).map { FashionMNIST.classNames[$0] }.joined(separator: ", ")
            print(String(format: "| %@ | %d | %.1f | %@ |", sampler.name, sampler.sampler.modelEvaluations, seconds, names))
        }
        try imageGrid(SampleCommand.zoomed(Tensor.concatenate(rows, alongAxis: 0), by: 2), rows: rows.count, columns: 8)
            .writePNG(to: output.appendingPathComponent("samplers.png"))
        print("\nsamplers.png: one row per sampler in the order of the table, all from the same initial noise.")
    }
}
