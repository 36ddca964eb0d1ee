import DEFTScoreMatching
import Foundation
import ImageReconstruction
import Imaging

/// The settings of one benchmark run, from `--name value` arguments.
struct BenchmarkOptions {
    static let usage = """
        usage: benchmark-imaging [options]

        For each task: fine-tunes DEFT on the shipped prior, runs DEFT, DPS, ΠGDM, DDRM,
        RED-diff and A⁺y on the first --images evaluation images, and sweeps the step counts
        (DEFT's DDIM 10/20/50/100, ΠGDM 10/20/50/100, DDRM 10/20/50/100, RED-diff
        100/250/500/1000) to find the least sampling time per image at which each method's
        PSNR reaches DPS's at 1000 steps. Times the prior's training step in each session.

        The run goes batch by batch: batch 0 of every method on every task, then batch 1,
        and so on, so that all methods of a task run its batch b in the same session unless
        the run is killed in the middle of it. Each finished
        batch and each fine-tuned network is saved in the journal folder at once, and a
        later run with the same settings resumes where the last one stopped. Writes the
        tables, over the leading batches that every method has finished, into --results
        between the benchmark-imaging marker comments, keeping the rest of the file, and
        prints them. Reports, never passes or fails.

        options:
          --tasks LIST            comma-separated tasks (default all: \(ImagingTask.allCases.map(\.rawValue).joined(separator: ",")))
          --images N              evaluation images per task (default 1000)
          --batch-size N          images per sampler call (default 32)
          --finetune-steps N      DEFT fine-tuning steps per task (default: the library's, \(DEFTImageFineTuningConfiguration.defaultTraining.steps))
          --prior-steps N         prior training steps timed (default 5, after one untimed step)
          --seed N                seed of everything random (default 0)
          --prior FILE            prior file (default models/fashion-mnist-prior.safetensors)
          --classifier FILE       classifier weights (default models/fashion-classifier.safetensors)
          --data DIR              folder of the Fashion-MNIST files (default /usr/share/datasets/fashion-mnist)
          --results FILE          Markdown file to update (default benchmarks/RESULTS.md)
          --journal DIR           folder of the per-task journals and h-networks (default benchmarks/imaging-journal)
          --sweep-images N        run the sweep's other step counts on the batches of the first N images only (default: all)
          --time-limit MINUTES    start no task's batch whose methods would end after this many minutes,
                                  judged by their earlier batches' mean times (a method's first batch
                                  counts as 0 s, and fine-tuning is not checked, so a first run can
                                  overshoot by a batch); 0 runs nothing and writes the tables from the
                                  journals (default: no limit)
          --discard METHODS       remove the comma-separated methods' batches from the journals of
                                  --tasks, as after a change to their code, and run nothing else: the
                                  next run runs them again and keeps the other methods' batches.
                                  Discarding deft also removes its fine-tuning record, so the next
                                  run fine-tunes a new h-network.
          --help                  show this text
        """

    var tasks = ImagingTask.allCases
    var imageCount = 1000
    var batchSize = 32
    var fineTuningSteps: Int?
    var priorSteps = 5
    var seed: UInt64 = 0
    var priorPath = "models/fashion-mnist-prior.safetensors"
    var classifierPath = FashionClassifier<Float>.defaultWeightsPath
    var dataDirectory = FashionMNIST.defaultDirectory
    var resultsPath = "benchmarks/RESULTS.md"
    var journalDirectory = "benchmarks/imaging-journal"
    /// The images whose batches run the sweep's other step counts; nil for all of them.
    var sweepImageCount: Int?
    /// Minutes after which no batch starts; nil for no limit.
    var timeLimitMinutes: Double?
    /// The methods whose batches `--discard` removes from the journals.
    var discardedMethods: [String] = []
    /// The command line as given without `--time-limit`, for the results page, since a
    /// run repeats it with any limit.
    var commandLine = "benchmark-imaging"

    struct InvalidOption: Error, CustomStringConvertible {
        let description: String
    }

    init(arguments: [String]) throws {
        var shownArguments: [String] = []
        var skipsValue = false
        for argument in arguments {
            if skipsValue {
                skipsValue = false
            } else if argument == "--time-limit" {
                skipsValue = true
            } else {
                shownArguments.append(argument)
            }
        }
        if !shownArguments.isEmpty {
            commandLine += " " + shownArguments.joined(separator: " ")
        }
        var index = 0
        func integer(_ name: String, _ text: String, _ range: ClosedRange<Int>) throws -> Int {
            guard let value = Int(text), range.contains(value) else {
                throw InvalidOption(description: "invalid value '\(text)' for \(name): expected an integer from \(range.lowerBound) to \(range.upperBound)")
            }
            return value
        }

        while index < arguments.count {
            let name = arguments[index]
            guard index + 1 < arguments.count else {
                throw InvalidOption(description: "option '\(name)' needs a value; run 'benchmark-imaging --help'")
            }
            let value = arguments[index + 1]
            switch name {
            case "--tasks":
                let names = value.split(separator: ",").map(String.init)
                let parsed = names.compactMap(ImagingTask.init(name:))
                guard !names.isEmpty, parsed.count == names.count else {
                    throw InvalidOption(description: "invalid value '\(value)' for --tasks: expected a comma-separated list of \(ImagingTask.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                tasks = ImagingTask.allCases.filter(parsed.contains)
            case "--images": imageCount = try integer(name, value, 1...1000)
            case "--batch-size": batchSize = try integer(name, value, 1...1000)
            case "--finetune-steps": fineTuningSteps = try integer(name, value, 1...10_000_000)
            case "--prior-steps": priorSteps = try integer(name, value, 1...10_000)
            case "--seed": seed = UInt64(try integer(name, value, 0...Int.max))
            case "--prior": priorPath = value
            case "--classifier": classifierPath = value
            case "--data": dataDirectory = URL(fileURLWithPath: value)
            case "--results": resultsPath = value
            case "--journal": journalDirectory = value
            case "--sweep-images": sweepImageCount = try integer(name, value, 1...1000)
            case "--discard":
                let names = value.split(separator: ",").map(String.init)
                let known = ReconstructionEvaluation.methodStreams
                guard !names.isEmpty, names.allSatisfy(known.contains) else {
                    throw InvalidOption(description: "invalid value '\(value)' for --discard: expected a comma-separated list of \(known.joined(separator: ", "))")
                }
                discardedMethods = names
            case "--time-limit":
                guard let minutes = Double(value), minutes.isFinite, minutes >= 0 else {
                    throw InvalidOption(description: "invalid value '\(value)' for --time-limit: expected minutes, a number of at least 0")
                }
                timeLimitMinutes = minutes
            default:
                throw InvalidOption(description: "unknown option '\(name)'; run 'benchmark-imaging --help'")
            }
            index += 2
        }
    }
}
