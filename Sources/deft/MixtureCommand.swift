import Foundation
import NeuralNetworks
import Tensors

/// `deft mixture`: trains a small DDPM ε-model on a two-component Gaussian mixture in 2-D,
/// draws samples by ancestral sampling and compares them with the exact mixture.
///
/// This is the library's end-to-end check that it trains a diffusion model, the prior
/// that every conditioning method starts from. It runs in seconds on a laptop CPU.
enum MixtureCommand {
    static let help = """
        usage: deft mixture [options]

        Trains a DDPM ε-model (an MLP on x and a sinusoidal time embedding) on the mixture
        ½ N((-2, 0), 0.25 I) + ½ N((2, 0), 0.25 I), samples it with 1000 ancestral steps, and
        prints the mode masses, means and standard deviations of the samples next to the
        exact values. Writes summary.json and samples.npy into a new folder under --output.

        options:
          --steps N        training steps (default 4000)
          --batch-size N   training batch size (default 512)
          --samples N      number of samples drawn (default 4000)
          --seed N         seed of every random draw (default 0)
          --output DIR     parent folder of the run folder (default runs)
          --json           print the summary as JSON on standard output
          --quiet          no progress on standard error
          --help           show this text
        """

    static func run(_ arguments: [String]) throws {
        if arguments.contains("--help") {
            print(help)
            return
        }
        let options = try CommandLineOptions(
            command: "mixture", arguments: arguments,
            valued: ["steps", "batch-size", "samples", "seed", "output"], boolean: ["json", "quiet"])
        Log.isQuiet = options.flag("quiet")
        let configuration = MixtureDemo.Configuration(
            trainingSteps: try options.int("steps", default: 4000, range: 1...1_000_000),
            batchSize: try options.int("batch-size", default: 512, range: 1...1_000_000),
            sampleCount: try options.int("samples", default: 4000, range: 2...10_000_000),
            seed: UInt64(try options.int("seed", default: 0, range: 0...Int.max)))
        let outputParent = URL(fileURLWithPath: options.string("output") ?? "runs")

        let summary = MixtureDemo(configuration: configuration).run()

        let runFolder = try RunFolder.create(in: outputParent, prefix: "mixture")
        try writeAtomically(try summary.jsonData(), to: runFolder.appendingPathComponent("summary.json"))
        try NumPyFile.write(summary.samples, to: runFolder.appendingPathComponent("samples.npy"))
        Log.info("wrote \(runFolder.path)/summary.json and samples.npy")

        if options.flag("json") {
            print(String(decoding: try summary.jsonData(), as: UTF8.self))
        } else {
            print(summary.table)
        }
    }
}
