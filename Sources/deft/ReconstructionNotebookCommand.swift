import DEFTScoreMatching
import Foundation
import ImageReconstruction

/// `deft reconstruction-notebook`: fine-tunes DEFT for inpainting on the shipped prior,
/// compares it with the baselines and writes DIR/deft-on-images.md with its figures.
enum ReconstructionNotebookCommand {
    static let fileName = "deft-on-images.md"

    static let help = """
        usage: deft reconstruction-notebook [options]

        Fine-tunes a DEFT h-network for inpainting on the shipped prior with the library's
        default settings, reconstructs the first --images evaluation images with DEFT and
        every baseline (the table of 'deft demo'), and reconstructs them again with DEFT at
        10, 20, 50 and 100 DDIM steps. Writes DIR/\(fileName), the SVG figures in
        DIR/figures and the PNG grid in DIR/imaging. Takes about ten minutes on two cores
        with the defaults; DPS's 1000 steps and the fine-tuning take most of it.

        options:
          --output DIR        folder of the page (default notebooks-md)
          --images N          evaluation images, 2 to 1000 (default \(DemoCommand.defaultImageCount))
          --seed N            seed of the fine-tuning, the observation noise and the samplers (default 0)
          --prior FILE        prior file (default models/fashion-mnist-prior.safetensors)
          --classifier FILE   classifier weights (default models/fashion-classifier.safetensors)
          --data DIR          folder of the Fashion-MNIST files (default /usr/share/datasets/fashion-mnist)
          --quick             2 images, 4 fine-tuning steps of 4 images, DEFT at 5 and 10 DDIM
                              steps, shortened baselines and no DPS, to check the generator
                              in well under a minute; the page then states those sizes
          --quiet             no progress on standard error
          --help              show this text
        """

    static func run(_ arguments: [String]) throws {
        if arguments.contains("--help") {
            print(help)
            return
        }
        let options = try CommandLineOptions(
            command: "reconstruction-notebook", arguments: arguments,
            valued: ["output", "images", "seed", "prior", "classifier", "data"], boolean: ["quick", "quiet"])
        Log.isQuiet = options.flag("quiet")
        let isQuick = options.flag("quick")
        let imageCount = try options.int("images", default: isQuick ? 2 : DemoCommand.defaultImageCount, range: 2...1000)
        let seed = try ImagingCommandOptions.seed(options)
        let (prior, priorPath) = try ImagingCommandOptions.prior(options)
        let classifier = try ImagingCommandOptions.classifier(options)

        let sizes = isQuick ? ReconstructionNotebook.Sizes.quick(imageCount: imageCount) : .full(imageCount: imageCount)
        let notebook = ReconstructionNotebook(
            folder: URL(fileURLWithPath: options.string("output") ?? "notebooks-md"), sizes: sizes, seed: seed, prior: prior,
            priorPath: priorPath, classifier: classifier, dataDirectory: ImagingCommandOptions.dataDirectory(options))
        try notebook.write()
    }
}

extension ReconstructionNotebook {
    /// The sizes of one run of the notebook.
    struct Sizes {
        var imageCount: Int
        var training: DEFTTrainingConfiguration
        /// DEFT's DDIM step counts for the steps figure; the largest is also the table's.
        var deftStepCounts: [Int]
        /// The methods of the comparison table, in table order.
        var methods: [String]
        var baselineSteps: BaselineSteps
        var isQuick: Bool

        /// Returns the library's defaults, the settings of `deft demo`.
        static func full(imageCount: Int) -> Sizes {
            Sizes(
                imageCount: imageCount, training: DEFTImageFineTuningConfiguration.defaultTraining,
                deftStepCounts: [10, 20, 50, 100], methods: MethodCatalogue.names, baselineSteps: BaselineSteps(), isQuick: false)
        }

        /// Returns sizes that check the generator in seconds. DPS is left out because it always runs
        /// every step of the prior's schedule, 1000 for the shipped prior.
        static func quick(imageCount: Int) -> Sizes {
            let defaults = DEFTImageFineTuningConfiguration.defaultTraining
            let training = DEFTTrainingConfiguration(
                steps: 4, batchSize: 4, learningRate: defaults.learningRate, finalLearningRate: defaults.finalLearningRate,
                warmupSteps: 0, averageDecay: defaults.averageDecay, maximumGradientNorm: defaults.maximumGradientNorm,
                reportInterval: 1)
            return Sizes(
                imageCount: imageCount, training: training, deftStepCounts: [5, 10],
                methods: MethodCatalogue.names.filter { $0 != "dps" }, baselineSteps: BaselineSteps(pigdm: 10, ddrm: 5, reddiff: 20),
                isQuick: true)
        }

        var tableDEFTSteps: Int { deftStepCounts.max()! }
    }
}
