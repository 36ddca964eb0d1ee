import Foundation
import SDECore
import Tensors

/// The gradient measurements of `deft sde-notebook`: d E[X_T²] / d(θ, μ) for the
/// Ornstein–Uhlenbeck SDE dX = θ (μ − X) dt + σ dW, X₀ = 1, T = 1, θ = 0.7, μ = 0,
/// σ = 0.5, by every gradient path of SDECore on one shared Brownian path.
///
/// θ and μ are per-path parameters of shape `[paths, 1]`, all equal, so one reverse pass
/// of Σᵢ X_T,ᵢ² gives every path's own derivative, and the mean and standard error of the
/// estimate follow from the per-path values.
struct SDEGradientMeasurements {
    static let (theta, mu, sigma) = (0.7, 0.0, 0.5)

    /// The gradient paths, by the name the page and the child process use.
    static let methods = [
        "backprop-euler", "backprop-heun", "adjoint", "reversible", "detached",
    ]

    static func label(_ method: String) -> String {
        switch method {
        case "backprop-euler": return "backpropagation through Euler–Maruyama"
        case "backprop-heun": return "backpropagation through reversible Heun"
        case "adjoint": return "stochastic adjoint (reversible Heun both ways)"
        case "reversible": return "reversible Heun, exact reversal"
        default: return "detached Euler–Maruyama path, score-function estimator"
        }
    }

    /// Per-path derivatives of X_T² with respect to θ and μ, each `[paths]`.
    struct PerPathGradient {
        var theta: [Double]
        var mu: [Double]
    }

    /// Returns the per-path gradient of `method` with `paths` paths on `steps` steps.
    ///
    /// The pathwise methods differentiate X_T,ᵢ² through the solve. The detached method
    /// never differentiates through the states: it records the Euler–Maruyama path and
    /// uses ∇ E[F] = E[(F − b) ∇ ln p(path)], with ln p the sum over steps of the Gaussian
    /// transition log-density −‖x_{n+1} − x_n − f(x_n) h‖² / (2σ²h), differentiated one
    /// step at a time by `SDEPath.gradientOfSumOverSteps`. The baseline b for path i is
    /// the mean of F over the other paths, which keeps the estimator unbiased.
    static func gradient(method: String, paths: Int, steps: Int, seed: UInt64 = 5) throws -> PerPathGradient {
        let theta = Variable(Tensor<Double>(shape: [paths, 1], repeating: Self.theta), requiresGrad: true)
        let mu = Variable(Tensor<Double>(shape: [paths, 1], repeating: Self.mu), requiresGrad: true)
        let drift: (Variable<Double>) -> Variable<Double> = { x in theta * (mu - x) }
        let sde = ClosureSDE<Double>(
            noiseType: .additive(.diagonal), interpretation: .stratonovich, parameters: [theta, mu],
            drift: { _, x in drift(x) },
            diffusion: { _, x in Variable(Tensor(shape: x.shape, repeating: Self.sigma)) })
        let x0 = Variable(Tensor<Double>(shape: [paths, 1], repeating: 1))
        let grid = TimeGrid(from: 0, to: 1, steps: steps)
        let brownian = GridBrownianPath<Double>(grid: grid, shape: [paths, 1], seed: seed)

        if method == "detached" {
            let solution = try solve(
                sde, x0: x0, grid: grid, solver: EulerMaruyama(), brownian: brownian, gradient: .detached, recordPath: true)
            let values = (solution.terminal.value * solution.terminal.value).scalars
            let total = values.reduce(0, +)
            let centred = values.map { $0 - (total - $0) / Double(paths - 1) }
            let h = 1.0 / Double(steps)
            let gradients = solution.path!.gradientOfSumOverSteps(
                cotangent: Tensor(shape: [paths, 1], scalars: centred), parameters: [theta, mu]
            ) { step in
                let residual = step.x1 - step.x0 - drift(step.x0) * h
                return (residual * residual) * (-1 / (2 * Self.sigma * Self.sigma * h))
            }
            return PerPathGradient(theta: gradients[0].scalars, mu: gradients[1].scalars)
        }

        let (solver, gradientMethod): (any SDESolver, GradientMethod)
        switch method {
        case "backprop-euler": (solver, gradientMethod) = (EulerMaruyama(), .backpropagation)
        case "backprop-heun": (solver, gradientMethod) = (ReversibleHeun(), .backpropagation)
        case "adjoint": (solver, gradientMethod) = (ReversibleHeun(), .adjoint())
        case "reversible": (solver, gradientMethod) = (ReversibleHeun(), .reversible)
        default:
            preconditionFailure("SDEGradientMeasurements: unknown method '\(method)'; expected one of \(methods)")
        }
        let solution = try solve(sde, x0: x0, grid: grid, solver: solver, brownian: brownian, gradient: gradientMethod)
        (solution.terminal * solution.terminal).sum().backward()
        return PerPathGradient(theta: theta.grad!.scalars, mu: mu.grad!.scalars)
    }

    /// The continuous-time derivatives from E[X_T] = μ + (1 − μ) e^{−θT} and
    /// Var X_T = σ² (1 − e^{−2θT}) / (2θ):
    /// d/dθ E[X_T²] = −2T e^{−2θT} + σ² [4θT e^{−2θT} − 2 (1 − e^{−2θT})] / (4θ²) at μ = 0,
    /// and d/dμ E[X_T²] = 2 E[X_T] (1 − e^{−θT}).
    static var exactGradient: (theta: Double, mu: Double) {
        let decay = Foundation.exp(-theta)
        let decay2 = decay * decay
        let dTheta = -2 * decay2 + sigma * sigma * (4 * theta * decay2 - 2 * (1 - decay2)) / (4 * theta * theta)
        return (dTheta, 2 * decay * (1 - decay))
    }

    /// The derivatives of E[X_N²] for the Euler–Maruyama chain x_{n+1} = a x_n + θμh + σ ΔW
    /// with a = 1 − θh: E[X_N] = μ + (1 − μ) aᴺ and Var X_N = σ² h (1 − a²ᴺ) / (1 − a²),
    /// differentiated by central differences with step 1e-6 (error about 1e-12).
    static func eulerChainGradient(steps: Int) -> (theta: Double, mu: Double) {
        let h = 1.0 / Double(steps)
        func secondMoment(_ theta: Double, _ mu: Double) -> Double {
            let a = 1 - theta * h
            let power = Foundation.pow(a, Double(steps))
            let mean = mu + (1 - mu) * power
            return mean * mean + sigma * sigma * h * (1 - power * power) / (1 - a * a)
        }
        let step = 1e-6
        return (
            (secondMoment(theta + step, mu) - secondMoment(theta - step, mu)) / (2 * step),
            (secondMoment(theta, mu + step) - secondMoment(theta, mu - step)) / (2 * step)
        )
    }

    // MARK: Time and memory

    /// The cost of one gradient: wall time and the rise of the peak resident set size.
    struct Cost {
        var method: String
        var steps: Int
        var seconds: Double
        var peakRiseKilobytes: Int
    }

    /// Runs one gradient in this process and prints "seconds peak-kB baseline-kB" for the
    /// parent: the body of `deft sde-notebook --gradient-cost METHOD STEPS PATHS`.
    static func runCostChild(method: String, steps: Int, paths: Int) throws {
        let baseline = ProcessMemory.current().peak ?? -1
        let started = Date()
        _ = try gradient(method: method, paths: paths, steps: steps)
        let seconds = Date().timeIntervalSince(started)
        print("\(seconds) \(ProcessMemory.current().peak ?? -1) \(baseline)")
    }

    /// Measures every method at every step count, each in a fresh child process of this
    /// executable so that one run's freed memory never hides another's peak.
    static func costs(stepCounts: [Int], paths: Int) throws -> [Cost] {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var costs: [Cost] = []
        for steps in stepCounts {
            for method in methods {
                let child = Process()
                child.executableURL = executable
                child.arguments = ["sde-notebook", "--gradient-cost", method, String(steps), String(paths)]
                let pipe = Pipe()
                child.standardOutput = pipe
                try child.run()
                let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                child.waitUntilExit()
                let fields = output.split(whereSeparator: \.isWhitespace)
                guard child.terminationStatus == 0, fields.count == 3, let seconds = Double(fields[0]),
                    let peak = Int(fields[1]), let baseline = Int(fields[2]), peak >= 0, baseline >= 0
                else {
                    throw SDENotebookError(
                        "the gradient-cost child for \(method) at \(steps) steps failed (status \(child.terminationStatus)): '\(output)'")
                }
                Log.info("notebook: \(method), \(steps) steps: \(String(format: "%.3f", seconds)) s")
                costs.append(Cost(method: method, steps: steps, seconds: seconds, peakRiseKilobytes: peak - baseline))
            }
        }
        return costs
    }
}
