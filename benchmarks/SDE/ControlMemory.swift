import ControlObjectives
import Foundation
import SDECore
import Tensors

// (iv) Peak resident memory of one gradient of the control objectives, each configuration
// in a fresh child process as in (i). Workload: the two-mode mixture prior
// ½ N((−4, 0), I) + ½ N((4, 0), I) with its exact score on the VP SDE (β from 0.1 to 20),
// the likelihood N(y; x, 2² I) of y = (1, 0), Euler–Maruyama on a uniform grid from T = 1
// to 0, batch 256, Double. The h-transform is affine in [x, 16 random tanh features of x]
// with 16 hat functions in t (1,152 parameters), set to N(0, 0.3²) values so that the
// control is not zero.

/// The relative-entropy and log-variance configurations of (iv), by command-line name.
let controlMethods: [(name: String, label: String)] = [
    ("backpropagation", "relative entropy, backpropagation"),
    ("checkpointed", "relative entropy, checkpointed adjoint (⌈log₂ N⌉ states)"),
    ("stochastic", "relative entropy, stochastic adjoint (no stored states)"),
    ("vargrad-stored", "log-variance (VarGrad), stored path"),
    ("vargrad-recomputed", "log-variance (VarGrad), recomputed path"),
]

/// Runs one configuration of (iv) and prints "peak baseline seconds difference". The first
/// two are the peak and the set-up's resident memory in KiB, then the gradient's time. For
/// the adjoints the last is ‖g − g_backprop‖ / ‖g_backprop‖, computed after the peak is
/// read, against backpropagation with the same running-cost rule: left-point for the
/// checkpointed adjoint, trapezoidal for the stochastic one. It is nan otherwise.
func runControlMemoryChild(method: String, steps: Int) throws {
    let prior = GaussianMixturePrior.twoModes
    let sde = VPSDE<Double>()
    let observation = Tensor<Double>(shape: [1, 2], scalars: [1, 0])
    let noiseVariance = 4.0
    let likelihood = TerminalCost<Double>(logWeight: { x, _ in
        let residual = x - observation
        return ((residual * residual).sum(alongAxes: [1]) * (-0.5 / noiseVariance)).reshaped(to: [x.shape[0]])
    })
    let problem = ControlProblem(
        forward: sde, priorScore: prior.scoreFunction(sde: sde), terminalCost: likelihood,
        grid: TimeGrid(from: sde.horizon, to: 0, steps: steps), dimension: 2)

    var generator = PhiloxRandom(seed: 5, stream: 7)
    let knots = (0..<16).map { Foundation.pow(Double($0) / 15, 2) * sde.horizon }
    let features = AffineHTransform<Double>.randomFeatures(dimension: 2, count: 16, scale: 0.5, using: &generator)
    let model = AffineHTransform<Double>(dimension: 2, timeBasis: .piecewiseLinear(knots: knots), stateFeatures: features)
    for parameter in model.parameters {
        parameter.value = Tensor.normal(shape: parameter.shape, standardDeviation: 0.3, using: &generator)
    }
    let randomness = problem.randomness(batch: 256, seed: 9)

    let baseline = peakResidentKiB()
    var gradients: [Tensor<Double>] = []
    let elapsed = try seconds {
        switch method {
        case "backpropagation":
            gradients = try problem.relativeEntropy(model, randomness: randomness, gradient: .backpropagation).gradients
        case "checkpointed":
            gradients = try problem.relativeEntropy(model, randomness: randomness, gradient: .checkpointed()).gradients
        case "stochastic":
            gradients = try problem.relativeEntropy(model, randomness: randomness, gradient: .adjoint()).gradients
        case "vargrad-stored":
            gradients = try problem.logVariance(model, randomness: randomness, memory: .storedPath).gradients
        case "vargrad-recomputed":
            gradients = try problem.logVariance(model, randomness: randomness, memory: .recomputedPath).gradients
        default:
            fatalError("unknown method \(method); expected one of \(controlMethods.map(\.name))")
        }
    }
    let peak = peakResidentKiB()

    var difference = Double.nan
    if method == "checkpointed" || method == "stochastic" {
        let quadrature: RunningCostQuadrature = method == "checkpointed" ? .leftPoint : .trapezoid
        let reference = try problem.relativeEntropy(
            model, randomness: randomness, gradient: .backpropagation, quadrature: quadrature).gradients
        let squaredDifference = zip(gradients, reference).reduce(0) { $0 + (($1.0 - $1.1) * ($1.0 - $1.1)).sum() }
        let squaredNorm = reference.reduce(0) { $0 + ($1 * $1).sum() }
        difference = (squaredDifference / squaredNorm).squareRoot()
    }
    print("\(peak) \(baseline) \(elapsed) \(difference)")
}

/// Runs (iv) and prints its Markdown tables.
func runControlMemoryBenchmark() throws {
    let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    let stepCounts = [64, 256, 1024, 4096]
    var cells: [String: (peak: Double, growth: Double, seconds: Double, difference: Double)] = [:]
    for steps in stepCounts {
        for (method, _) in controlMethods {
            let child = Process()
            child.executableURL = executable
            child.arguments = ["--control-memory-child", method, String(steps)]
            let pipe = Pipe()
            child.standardOutput = pipe
            try child.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            child.waitUntilExit()
            let fields = output.split(whereSeparator: \.isWhitespace)
            guard child.terminationStatus == 0, fields.count == 4,
                  let peak = Double(fields[0]), let baseline = Double(fields[1]), let time = Double(fields[2]),
                  let difference = Double(fields[3])
            else {
                FileHandle.standardError.write(Data("control memory child \(method) \(steps) failed: \(output)\n".utf8))
                continue
            }
            cells["\(method) \(steps)"] = (peak / 1024, (peak - baseline) / 1024, time, difference)
            FileHandle.standardError.write(Data("control memory: \(method), \(steps) steps done\n".utf8))
        }
    }

    print("(iv) peak resident memory of one gradient of the control objectives: mixture prior, batch 256, Double, "
        + "Euler–Maruyama; peak VmHWM in MiB (growth over the set-up)")
    print("")
    print("| steps | " + controlMethods.map(\.label).joined(separator: " | ") + " |")
    print("| ---: |" + String(repeating: " --- |", count: controlMethods.count))
    for steps in stepCounts {
        let row = controlMethods.map { method -> String in
            guard let cell = cells["\(method.name) \(steps)"] else { return "failed" }
            return String(format: "%.1f (%.1f)", cell.peak, cell.growth)
        }
        print("| \(steps) | " + row.joined(separator: " | ") + " |")
    }

    print("")
    print("Seconds per gradient, and for the adjoints the relative difference ‖g − g_backprop‖ / ‖g_backprop‖ from")
    print("backpropagation with the same running-cost rule:")
    print("")
    print("| steps | " + controlMethods.map(\.label).joined(separator: " | ") + " |")
    print("| ---: |" + String(repeating: " --- |", count: controlMethods.count))
    for steps in stepCounts {
        let row = controlMethods.map { method -> String in
            guard let cell = cells["\(method.name) \(steps)"] else { return "failed" }
            let time = String(format: "%.2f s", cell.seconds)
            return cell.difference.isNaN ? time : time + String(format: ", %.1e", cell.difference)
        }
        print("| \(steps) | " + row.joined(separator: " | ") + " |")
    }
}
