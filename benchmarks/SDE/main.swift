import Foundation
import NeuralNetworks
import SDECore
import Tensors

// SDE benchmarks, each printing its figures (no pass or fail):
// (i)  peak resident memory (VmHWM) of one gradient computation by backpropagation, the
//      stochastic adjoint and reversible Heun at 100, 1,000 and 10,000 steps. Each
//      configuration runs in a fresh child process of this executable, so peaks never mix.
//      Workload: a 2-D SDE with MLP drift 2-64-64-2 (tanh) and additive diagonal noise
//      σ = 0.5, batch 32, Float, reversible Heun steps, loss mean(X_T²).
// (ii) 1,000 Euler–Maruyama steps of the same kind of SDE with batch 1,000 and no
//      gradients, in Float: the median wall time over several runs, with and without the
//      Brownian tree (the second draws each increment directly).
//
// (iii) with --peers PYTHON (default .peers/venv/bin/python when it exists), the same
//      workload in JAX (jit), torchsde and a plain PyTorch loop, run by
//      benchmarks/peers/sde_peers.py in alternation with (ii), so that both see the same
//      machine load; ratios are peer median over Swift median.
//
// (iv) peak resident memory of one gradient of the control objectives at 64 to 4,096 steps,
//      each configuration in a fresh child process: the relative entropy by backpropagation,
//      the checkpointed adjoint and the stochastic adjoint, and VarGrad on detached paths.
//      The workload is described in ControlMemory.swift.
//
// (v)  one gradient of an SDE loss by the stochastic adjoint and by backpropagation, side by
//      side with torchsde, PyTorch, JAX and diffrax (AdjointComparison.swift), in alternating
//      rounds; with --adjoint-only, this section alone.
//
// usage: benchmark-sde [--memory-only | --speed-only | --control-memory-only] [--runs N] [--rounds N]
//                      [--peers PYTHON | --no-peers]
//        benchmark-sde --adjoint-only [--runs N] [--rounds N] [--peers PYTHON | --no-peers]
//        benchmark-sde --memory-child METHOD STEPS           (internal: one configuration of (i))
//        benchmark-sde --control-memory-child METHOD STEPS   (internal: one configuration of (iv))

let arguments = Array(CommandLine.arguments.dropFirst())

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
}

/// Returns the CPU time of this process (all threads) in seconds. Beside wall time it
/// shows how much of a run other processes on a busy machine took away.
func processCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}

/// Returns the peak resident set size of this process in KiB, from /proc/self/status.
func peakResidentKiB() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }
    return -1
}

/// Returns the 2-D SDE with drift MLP(x) and additive diagonal noise of scale `sigma`.
func neuralSDE(model: MLP<Float>, sigma: Float) -> ClosureSDE<Float> {
    ClosureSDE(
        noiseType: .additive(.diagonal), interpretation: .stratonovich, parameters: model.parameters,
        drift: { _, x in model(x) },
        diffusion: { _, x in Variable(Tensor(shape: x.shape, repeating: sigma)) })
}

// MARK: (i) memory, one configuration per child process

func runMemoryChild(method: String, steps: Int) throws {
    var generator = PhiloxRandom(seed: 1)
    let model = MLP<Float>(sizes: [2, 64, 64, 2], activation: .tanh, using: &generator)
    let sde = neuralSDE(model: model, sigma: 0.5)
    let batch = 32
    let x0 = Variable(Tensor<Float>.normal(shape: [batch, 2], using: &generator), requiresGrad: true)
    // Leaves half a step wide, the usual choice for a virtual Brownian tree.
    let brownian = VirtualBrownianTree<Float>(
        from: 0, to: 1, shape: [batch, 2], seed: 2, tolerance: 0.5 / Double(steps))
    let gradient: GradientMethod
    switch method {
    case "backpropagation": gradient = .backpropagation
    case "adjoint": gradient = .adjoint()
    case "reversible": gradient = .reversible
    default: fatalError("unknown method \(method); expected backpropagation, adjoint or reversible")
    }

    let baseline = peakResidentKiB()
    var gradientNorm: Float = 0
    let elapsed = try seconds {
        let solution = try solve(
            sde, x0: x0, from: 0, to: 1, steps: steps, solver: ReversibleHeun(), brownian: brownian, gradient: gradient)
        (solution.terminal * solution.terminal).mean().backward()
        gradientNorm = model.parameters.reduce(0) { $0 + ($1.grad! * $1.grad!).sum() }.squareRoot()
    }
    print("\(method) \(steps) \(peakResidentKiB()) \(baseline) \(elapsed) \(gradientNorm)")
}

func runMemoryBenchmark() throws {
    let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    print("(i) peak resident memory of one gradient: MLP 2-64-64-2 drift, batch 32, Float, reversible Heun steps")
    print("method           steps   peak MiB   increase over set-up MiB   seconds   |∇θ| (must agree across methods)")
    for steps in [100, 1000, 10_000] {
        for method in ["backpropagation", "adjoint", "reversible"] {
            let child = Process()
            child.executableURL = executable
            child.arguments = ["--memory-child", method, String(steps)]
            let pipe = Pipe()
            child.standardOutput = pipe
            try child.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            child.waitUntilExit()
            let fields = output.split(whereSeparator: \.isWhitespace)
            guard child.terminationStatus == 0, fields.count == 6,
                  let peak = Double(fields[2]), let baseline = Double(fields[3]), let time = Double(fields[4])
            else {
                FileHandle.standardError.write(Data("memory child \(method) \(steps) failed: \(output)\n".utf8))
                continue
            }
            let label = method.padding(toLength: 16, withPad: " ", startingAt: 0)
            print(label + String(
                format: " %6d   %8.1f   %24.1f   %7.2f   ", steps, peak / 1024, (peak - baseline) / 1024, time)
                + fields[5])
        }
    }
}

// MARK: (ii) speed of Euler–Maruyama without gradients

/// Times (ii) and returns the medians of `solve` with the Brownian tree and with a grid path.
func runSpeedBenchmark(runs: Int) throws -> (tree: Double, grid: Double) {
    var generator = PhiloxRandom(seed: 3)
    let model = MLP<Float>(sizes: [2, 64, 64, 2], activation: .tanh, using: &generator)
    let sde = neuralSDE(model: model, sigma: 0.5)
    let (batch, steps) = (1000, 1000)
    let x0 = Variable(Tensor<Float>.normal(shape: [batch, 2], using: &generator))

    var withTree: [Double] = []
    var withGrid: [Double] = []
    var withTreeCPU: [Double] = []
    var treeOnly: [Double] = []
    var direct: [Double] = []
    for run in 0..<(runs + 1) {
        let brownian = VirtualBrownianTree<Float>(
            from: 0, to: 1, shape: [batch, 2], seed: UInt64(run), tolerance: 0.5 / Double(steps))
        let cpuStart = processCPUSeconds()
        let solveTime = try seconds {
            _ = try solve(sde, x0: x0, from: 0, to: 1, steps: steps, brownian: brownian, gradient: .detached)
        }
        let solveCPU = processCPUSeconds() - cpuStart
        let gridPath = GridBrownianPath<Float>(grid: TimeGrid(from: 0, to: 1, steps: steps), shape: [batch, 2], seed: UInt64(run))
        let gridTime = try seconds {
            _ = try solve(sde, x0: x0, from: 0, to: 1, steps: steps, brownian: gridPath, gradient: .detached)
        }
        let queryTree = VirtualBrownianTree<Float>(
            from: 0, to: 1, shape: [batch, 2], seed: UInt64(run) + 100, tolerance: 0.5 / Double(steps))
        let grid = TimeGrid(from: 0, to: 1, steps: steps).points
        let queryTime = seconds {
            for n in 0..<steps { _ = queryTree.increment(from: grid[n], to: grid[n + 1]) }
        }
        // The same Euler–Maruyama loop with increments drawn directly, as a plain
        // PyTorch loop does it, to separate the Brownian tree's cost from the rest.
        var noise = PhiloxRandom(seed: UInt64(run) + 200)
        let h = Float(1.0 / Double(steps))
        let directTime = seconds {
            withoutRecording {
                var x = x0
                for _ in 0..<steps {
                    let dW = Tensor<Float>.normal(shape: [batch, 2], standardDeviation: h.squareRoot(), using: &noise)
                    x = x + model(x) * h + Variable(dW * Float(0.5))
                }
            }
        }
        if run > 0 {  // The first run warms up caches and the thread pool.
            withTree.append(solveTime)
            withGrid.append(gridTime)
            withTreeCPU.append(solveCPU)
            treeOnly.append(queryTime)
            direct.append(directTime)
        }
    }
    print("(ii) 1000 Euler–Maruyama steps, MLP 2-64-64-2 (tanh) drift, batch 1000, Float, no gradients, median of \(runs) runs")
    print(String(
        format: "solve() with a virtual Brownian tree:      %7.1f ms (process CPU time %.1f ms)", median(withTree) * 1000,
        median(withTreeCPU) * 1000))
    print(String(format: "  of which Brownian tree queries alone:    %7.1f ms", median(treeOnly) * 1000))
    print(String(format: "solve() with a GridBrownianPath:           %7.1f ms", median(withGrid) * 1000))
    print(String(format: "plain loop with directly drawn increments: %7.1f ms", median(direct) * 1000))
    return (median(withTree), median(withGrid))
}

struct PeerSpeeds: Decodable {
    var jax: Double
    var jax_version: String
    var torch_loop: Double
    var torch_version: String
    var torchsde: Double
}

/// Runs the peer script `benchmarks/peers/NAME` once with `--runs` and decodes the JSON
/// object it prints, or returns nil, with one line on standard error, when it could not run.
func runPeerScript<Result: Decodable>(_ name: String, python: String, runs: Int, as type: Result.Type) -> Result? {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../peers/\(name)").standardized.path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = [script, "--runs", String(runs)]
    let pipe = Pipe()
    process.standardOutput = pipe
    do {
        try process.run()
    } catch {
        FileHandle.standardError.write(Data("benchmark-sde: could not start \(python): \(error)\n".utf8))
        return nil
    }
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        FileHandle.standardError.write(Data("benchmark-sde: \(name) exited with \(process.terminationStatus)\n".utf8))
        return nil
    }
    do {
        return try JSONDecoder().decode(type, from: output)
    } catch {
        FileHandle.standardError.write(Data("benchmark-sde: could not read the output of \(name): \(error)\n".utf8))
        return nil
    }
}

func option(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

let usage = """
    usage: benchmark-sde [options]

    Prints the SDE benchmarks: (i) peak memory of one gradient by backpropagation, the
    stochastic adjoint and reversible Heun at 100, 1,000 and 10,000 steps, and the control
    objectives' memory; (ii) 1000 Euler–Maruyama steps of a 2-D SDE with an MLP drift, no
    gradients; (iii) the same beside JAX, torchsde and PyTorch; (v) one adjoint gradient
    beside the peers. Reports figures, never passes or fails.

    options:
      --speed-only            run only (ii), (iii) and (v)
      --memory-only           run only (i)
      --control-memory-only   run only the control objectives' memory
      --adjoint-only          run only (v)
      --runs N                timed runs per round (default 5)
      --rounds N              alternating Swift/peer rounds (default 3)
      --peers PYTHON          Python with the peers (default .peers/venv/bin/python when it exists)
      --no-peers              run no peer scripts
      --help                  show this text
    """

let flags: Set<String> = ["--speed-only", "--memory-only", "--control-memory-only", "--adjoint-only", "--no-peers", "--help"]
let valuedOptions: Set<String> = ["--runs", "--rounds", "--peers"]
if arguments.contains("--help") {
    print(usage)
    exit(0)
}
if arguments.first != "--memory-child" && arguments.first != "--control-memory-child" {
    var index = 0
    while index < arguments.count {
        let argument = arguments[index]
        if valuedOptions.contains(argument) {
            guard index + 1 < arguments.count else {
                FileHandle.standardError.write(Data("benchmark-sde: \(argument) needs a value; see benchmark-sde --help\n".utf8))
                exit(2)
            }
            let value = arguments[index + 1]
            if argument != "--peers" && (Int(value) ?? 0) < 1 {
                FileHandle.standardError.write(Data("benchmark-sde: \(argument) '\(value)' is invalid; expected a positive integer\n".utf8))
                exit(2)
            }
            index += 2
        } else if flags.contains(argument) {
            index += 1
        } else {
            FileHandle.standardError.write(Data("benchmark-sde: unknown option '\(argument)'; see benchmark-sde --help\n".utf8))
            exit(2)
        }
    }
}

if arguments.first == "--memory-child" {
    guard arguments.count == 3, let steps = Int(arguments[2]) else {
        fatalError("usage: benchmark-sde --memory-child METHOD STEPS")
    }
    try runMemoryChild(method: arguments[1], steps: steps)
} else if arguments.first == "--control-memory-child" {
    guard arguments.count == 3, let steps = Int(arguments[2]) else {
        fatalError("usage: benchmark-sde --control-memory-child METHOD STEPS")
    }
    try runControlMemoryChild(method: arguments[1], steps: steps)
} else if arguments.contains("--control-memory-only") {
    try runControlMemoryBenchmark()
} else {
    let runs = option("--runs").flatMap(Int.init) ?? 5
    let rounds = option("--rounds").flatMap(Int.init) ?? 3
    let defaultPython = FileManager.default.isExecutableFile(atPath: ".peers/venv/bin/python") ? ".peers/venv/bin/python" : nil
    let python = arguments.contains("--no-peers") ? nil : (option("--peers") ?? defaultPython)
    if arguments.contains("--adjoint-only") {
        try runAdjointComparison(runs: runs, rounds: rounds, python: python)
        exit(0)
    }
    if !arguments.contains("--speed-only") {
        try runMemoryBenchmark()
        print("")
        try runControlMemoryBenchmark()
    }
    if !arguments.contains("--memory-only") {
        var swiftTree: [Double] = []
        var swiftGrid: [Double] = []
        var peers: [PeerSpeeds] = []
        for round in 1...rounds {
            let speeds = try runSpeedBenchmark(runs: runs)
            swiftTree.append(speeds.tree)
            swiftGrid.append(speeds.grid)
            if let python, let figures = runPeerScript("sde_peers.py", python: python, runs: runs, as: PeerSpeeds.self) {
                peers.append(figures)
            }
            FileHandle.standardError.write(Data("round \(round)/\(rounds) done\n".utf8))
        }
        if !peers.isEmpty {
            let reference = median(swiftGrid)
            print("")
            print("(iii) side by side, medians over \(rounds) alternating rounds of \(runs) runs each")
            print("| implementation | median (range) | peer / Swift (grid path) |")
            print("| --- | --- | --- |")
            func line(_ name: String, _ values: [Double]) {
                print(String(
                    format: "| %@ | %.1f ms (%.1f–%.1f) | %.2f× |", name, median(values) * 1000, values.min()! * 1000,
                    values.max()! * 1000, median(values) / reference))
            }
            line("Swift solve(), GridBrownianPath", swiftGrid)
            line("Swift solve(), VirtualBrownianTree", swiftTree)
            line("JAX \(peers[0].jax_version), jit + fori_loop", peers.map(\.jax))
            line("PyTorch \(peers[0].torch_version), plain loop", peers.map(\.torch_loop))
            line("torchsde sdeint (euler)", peers.map(\.torchsde))
        }
        print("")
        try runAdjointComparison(runs: runs, rounds: rounds, python: python)
    }
}
