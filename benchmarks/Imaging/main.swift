import Foundation
import ImageReconstruction
import Imaging
import Tensors

// benchmark-imaging: DEFT against DPS, ΠGDM, DDRM, RED-diff and A⁺y on the six imaging
// tasks, with the time each method needs to reach DPS's PSNR. See `BenchmarkOptions.usage`.

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("--help") {
    print(BenchmarkOptions.usage)
    exit(0)
}

do {
    let options = try BenchmarkOptions(arguments: arguments)
    let start = Date()
    let startLoad = loadAverage()
    let prior = try UNetNoisePredictor<Float>(contentsOf: URL(fileURLWithPath: options.priorPath))
    let classifier = try FashionClassifier<Float>(contentsOf: URL(fileURLWithPath: options.classifierPath))
    let fineTuningImages = try FashionMNIST.load(.fineTuning, as: Float.self, paddedTo32: true, directory: options.dataDirectory).images
    let evaluation = try FashionMNIST.load(.evaluation, as: Float.self, paddedTo32: true, directory: options.dataDirectory)

    let priorStep = try PriorStepTiming.measure(images: fineTuningImages, steps: options.priorSteps, seed: options.seed)
    log(String(format: "prior training step (batch %d): median %.3f s over %d steps", PriorStepTiming.batchSize, priorStep.median, options.priorSteps))

    var benchmarks: [TaskBenchmark] = []
    for task in options.tasks {
        log("== \(task.summary)")
        benchmarks.append(try TaskBenchmark.run(
            task: task, options: options, prior: prior, classifier: classifier, fineTuningImages: fineTuningImages,
            evaluation: evaluation))
    }

    let section = ResultsSection(
        options: options, priorStep: priorStep, benchmarks: benchmarks, wallSeconds: Date().timeIntervalSince(start),
        loadAverages: (startLoad, loadAverage()))
    try section.write(into: URL(fileURLWithPath: options.resultsPath))
    print(section.markdown)
    log("updated \(options.resultsPath)")
} catch {
    FileHandle.standardError.write(Data("benchmark-imaging: error: \(error)\n".utf8))
    exit(1)
}
