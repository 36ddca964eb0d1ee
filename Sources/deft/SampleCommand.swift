import Foundation
import Imaging
import SDECore
import Samplers
import Tensors

/// `deft sample`: draws images from a trained prior with one of the samplers.
enum SampleCommand {
    static let defaultPriorPath = "models/fashion-mnist-prior.safetensors"

    static let help = """
        usage: deft sample [options]

        Draws images from a prior file written by 'deft train-prior', writes them as a PNG
        grid (samples.png) and as samples.npy ([N, 1, 32, 32], Float32, in the data's
        [−1, 1] scale) into a new folder under --output, and prints the sampling time. If
        the classifier's weight file exists, it also prints the classifier's label counts
        over the samples. If any sample contains NaN or ±∞ (a diverged sampler or a corrupt
        prior file), the files are still written, with NaN drawn black in samples.png, and
        the command fails with an error that counts them.

        samplers (--sampler):
          ddim   DDIM on --steps evenly spaced steps ending at step 999 (default)
          ddpm   DDPM ancestral sampling on all 1000 steps (--steps is not accepted)
          sde    Euler–Maruyama on the reverse VP SDE of the DDPM schedule, --steps steps
          ode    Heun on the probability-flow ODE, --steps steps (2 model calls each),
                 ending at step 0 with Tweedie's denoised estimate

        options:
          --prior FILE        prior file (default models/fashion-mnist-prior.safetensors)
          --sampler NAME      ddim, ddpm, sde or ode (default ddim)
          --steps N           sampler steps (default 100)
          --eta X             DDIM noise scale η ≥ 0 (default 0, deterministic)
          --clip              clip the denoised estimate to [−1, 1] (ddim and ddpm)
          --count N           number of images (default 64)
          --batch-size N      images per sampler call (default 64)
          --seed N            seed of the initial noise and the sampler's noise (default 0)
          --columns N         images per row of the PNG grid (default 8)
          --zoom N            pixel repetition of the PNG grid (default 2)
          --classifier FILE   classifier weights (default models/fashion-classifier.safetensors)
          --output DIR        parent folder of the run folder (default runs)
          --quiet             no progress on standard error
          --help              show this text
        """

    static func run(_ arguments: [String]) throws {
        if arguments.contains("--help") {
            print(help)
            return
        }
        let options = try CommandLineOptions(
            command: "sample", arguments: arguments,
            valued: ["prior", "sampler", "steps", "eta", "count", "batch-size", "seed", "columns", "zoom", "classifier", "output"],
            boolean: ["clip", "quiet"])
        Log.isQuiet = options.flag("quiet")
        let count = try options.int("count", default: 64, range: 1...1_000_000)
        let batchSize = try options.int("batch-size", default: 64, range: 1...100_000)
        let seed = UInt64(try options.int("seed", default: 0, range: 0...Int.max))
        let columns = try options.int("columns", default: 8, range: 1...1000)
        let zoom = try options.int("zoom", default: 2, range: 1...16)

        let priorURL = URL(fileURLWithPath: options.string("prior") ?? defaultPriorPath)
        let prior = try UNetNoisePredictor<Float>(contentsOf: priorURL)
        let sampler = try makeSampler(options, schedule: prior.schedule)

        // The run folder is created before sampling, so that a bad --output fails at once.
        let runFolder = try RunFolder.create(in: URL(fileURLWithPath: options.string("output") ?? "runs"), prefix: "samples")
        let start = Date()
        let samples: Tensor<Float>
        do {
            samples = try drawSamples(prior, sampler: sampler, count: count, batchSize: batchSize, seed: seed)
        } catch {
            RunFolder.removeIfEmpty(runFolder)
            throw error
        }
        let seconds = Date().timeIntervalSince(start)

        let grid = imageGrid(zoomed(samples, by: zoom), rows: (count + columns - 1) / columns, columns: columns)
        try grid.writePNG(to: runFolder.appendingPathComponent("samples.png"))
        try NumPyFile.write(samples, to: runFolder.appendingPathComponent("samples.npy"))

        // Non-finite samples are written for inspection, then reported as an error.
        let nonFinite = nonFiniteImageCount(samples)
        guard nonFinite == 0 else {
            throw SampleCommandError(
                "\(nonFinite) of \(count) samples of \(sampler.name) contain NaN or ±∞: the sampler diverged or the prior file "
                    + "\(priorURL.path) is corrupt; they are in \(runFolder.path), NaN drawn black in samples.png")
        }

        print("prior: \(priorURL.path)")
        print(String(
            format: "%@: %d images, %d model calls per batch, %.1f s (%.3f s per image)", sampler.name, count,
            sampler.sampler.modelEvaluations, seconds, seconds / Double(count)))
        printPixelSummary(samples)
        let classifierURL = URL(fileURLWithPath: options.string("classifier") ?? FashionClassifier<Float>.defaultWeightsPath)
        if FileManager.default.fileExists(atPath: classifierURL.path) {
            let classifier = try FashionClassifier<Float>(contentsOf: classifierURL)
            print(labelDistribution(classifier.predictedClasses(samples)))
        } else {
            print("no classifier at \(classifierURL.path); run 'deft train-classifier' for label counts")
        }
        print("wrote \(runFolder.path)/samples.png and samples.npy")
    }

    /// A sampler with the name the summary prints.
    struct NamedSampler {
        var name: String
        var sampler: any Sampler
    }

    /// Builds the sampler that `--sampler`, `--steps`, `--eta` and `--clip` describe.
    static func makeSampler(_ options: CommandLineOptions, schedule: DDPMSchedule) throws -> NamedSampler {
        let name = options.string("sampler") ?? "ddim"
        let steps = try options.int("steps", default: 100, range: 1...100_000)
        let eta = try options.double("eta", default: 0, range: 0...100)
        let clips = options.flag("clip")
        func reject(_ option: String) -> CommandLineError {
            CommandLineError.invalidValue(
                command: options.command, option: option, value: options.string(option) ?? "given",
                expected: "no value, because the \(name) sampler does not use it")
        }

        if name != "ddim" && options.string("eta") != nil { throw reject("eta") }
        if name != "ddim" && name != "ddpm" && clips { throw reject("clip") }
        switch name {
        case "ddim":
            guard steps <= schedule.count else {
                throw CommandLineError.invalidValue(
                    command: options.command, option: "steps", value: String(steps),
                    expected: "at most \(schedule.count), the prior's diffusion steps")
            }
            let label = String(format: "DDIM, %d steps, η = %g%@", steps, eta, clips ? ", clipped" : "")
            return NamedSampler(name: label, sampler: DDIMSampler(schedule: schedule, steps: steps, eta: eta, clipsDenoised: clips))
        case "ddpm":
            if options.string("steps") != nil { throw reject("steps") }
            let label = "DDPM ancestral, \(schedule.count) steps\(clips ? ", clipped" : "")"
            return NamedSampler(name: label, sampler: DDPMSampler(schedule: schedule, clipsDenoised: clips))
        case "sde":
            let process = ContinuousDDPM(schedule: schedule)
            return NamedSampler(name: "reverse SDE, Euler–Maruyama, \(steps) steps", sampler: ReverseSDESampler(process: process, steps: steps))
        case "ode":
            let process = ContinuousDDPM(schedule: schedule)
            return NamedSampler(
                name: "probability-flow ODE, Heun, \(steps) steps", sampler: ProbabilityFlowSampler(process: process, steps: steps, method: .heun))
        default:
            throw CommandLineError.invalidValue(command: options.command, option: "sampler", value: name, expected: "ddim, ddpm, sde or ode")
        }
    }

    /// Draws `count` images in batches of `batchSize`. Batch b draws its initial N(0, I) and
    /// the sampler's noise from Philox stream `seed.split(b)`, so the images depend only on
    /// the seed, the batch size and the sampler.
    static func drawSamples(
        _ prior: UNetNoisePredictor<Float>, sampler: NamedSampler, count: Int, batchSize: Int, seed: UInt64
    ) throws -> Tensor<Float> {
        let size = prior.architecture.imageSize
        var batches: [Tensor<Float>] = []
        for (index, start) in stride(from: 0, to: count, by: batchSize).enumerated() {
            let batchStart = Date()
            var generator = PhiloxRandom(seed: seed).split(UInt64(index))
            let size4 = [Swift.min(batchSize, count - start), 1, size, size]
            let initial = initialNoise(shape: size4, as: Float.self, using: &generator)
            batches.append(try sampler.sampler.sample(prior, from: initial, using: &generator))
            Log.info(String(
                format: "sampled images %d..<%d in %.1f s", start, start + size4[0], Date().timeIntervalSince(batchStart)))
        }
        return Tensor.concatenate(batches, alongAxis: 0)
    }

    /// Returns how many images `[N, ...]` contain a NaN or infinite value.
    static func nonFiniteImageCount(_ images: Tensor<Float>) -> Int {
        let size = images.shape.dropFirst().reduce(1, *)
        let scalars = images.scalars
        return (0..<images.shape[0]).filter { index in
            scalars[(index * size)..<((index + 1) * size)].contains { !$0.isFinite }
        }.count
    }

    /// Returns the images with each pixel repeated `factor` times along height and width.
    static func zoomed(_ images: Tensor<Float>, by factor: Int) -> Tensor<Float> {
        factor == 1 ? images : upsampleNearest2d(images, factor: factor)
    }

    /// Prints the range of the pixel values and the fraction inside the data's [−1, 1].
    static func printPixelSummary(_ samples: Tensor<Float>) {
        let values = samples.scalars
        let inside = values.filter { $0 >= -1 && $0 <= 1 }.count
        print(String(
            format: "pixels: min %.3f, max %.3f, mean %.3f, %.1f %% inside [-1, 1]", Double(values.min()!), Double(values.max()!),
            Double(samples.mean()), 100 * Double(inside) / Double(values.count)))
    }

    /// Returns one line per class with its count and share among `classes`.
    static func labelDistribution(_ classes: [Int]) -> String {
        var counts = [Int](repeating: 0, count: FashionMNIST.classNames.count)
        for label in classes {
            counts[label] += 1
        }
        var text = "classifier labels of the \(classes.count) samples:\n"
        for (label, name) in FashionMNIST.classNames.enumerated() {
            text += String(format: "  %@ %4d  (%.1f %%)\n", name.padding(toLength: 12, withPad: " ", startingAt: 0), counts[label],
                           100 * Double(counts[label]) / Double(classes.count))
        }
        return String(text.dropLast())
    }
}

/// A `deft sample` run whose samples cannot be trusted.
struct SampleCommandError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
