import Foundation
import NeuralNetworks
import Tensors

// Times the foundation workloads side by side with PyTorch in one invocation:
// one Adam step of an MLP 2-128-128-128-2 (SiLU) on a batch of 512, and the forward and
// backward pass of a U-Net (32/64/128 channels) on a batch of 32 images of 1×28×28.
// Rounds alternate between the two implementations so that both see the same machine
// load; each round reports the median of its timed steps.
//
// It also times the forward pass alone, without a graph, of the shipped image prior's
// U-Net (32/64/64 channels, 1×32×32 images) at batches of 16 and 64: the call that
// samplers repeat hundreds of times per batch of images. PyTorch does not run this one.
//
// Two conditional-sampling steps on that U-Net run side by side with PyTorch
// (peers/torch_posterior_steps.py): one DPS step at batch 8 and one DEFT fine-tuning step
// at batch 16, both on inpainting (PosteriorStepWorkloads.swift).
//
// usage: benchmark-foundation [--rounds N] [--steps N] [--peer-python PATH] [--no-peer]
//                             [--only mlp|unet|prior|dps|deft]

let options = BenchmarkOptions(CommandLine.arguments.dropFirst())

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func timeSteps(warmup: Int, steps: Int, _ body: () -> Void) -> Double {
    for _ in 0..<warmup { body() }
    var samples: [Double] = []
    for _ in 0..<steps {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
    }
    return median(samples)
}

/// One Adam step of the MLP on mean-squared error, as the PyTorch script does it.
func mlpAdamStepSeconds(steps: Int) -> Double {
    var generator = PhiloxRandom(seed: 0)
    let model = MLP<Float>(sizes: [2, 128, 128, 128, 2], activation: .silu, using: &generator)
    let optimizer = Adam(parameters: model.parameters, learningRate: 1e-3)
    let x = Variable(Tensor<Float>.normal(shape: [512, 2], using: &generator))
    let y = Variable(Tensor<Float>.normal(shape: [512, 2], using: &generator))
    return timeSteps(warmup: 20, steps: steps) {
        model.zeroGradients()
        let residual = model(x) - y
        let loss = (residual * residual).mean()
        loss.backward()
        optimizer.step()
    }
}

/// Forward and backward of the U-Net on mean-squared error against a fixed target.
func unetForwardBackwardSeconds(steps: Int) -> (seconds: Double, parameters: Int) {
    var generator = PhiloxRandom(seed: 0)
    let model = UNet<Float>(
        configuration: UNetConfiguration(inputChannels: 1, baseChannels: 32, channelMultipliers: [1, 2, 4]),
        using: &generator)
    let x = Variable(Tensor<Float>.normal(shape: [32, 1, 28, 28], using: &generator))
    let t = Variable(Tensor<Float>.uniform(shape: [32], lower: 0, upper: 1000, using: &generator))
    let target = Variable(Tensor<Float>.normal(shape: [32, 1, 28, 28], using: &generator))
    let seconds = timeSteps(warmup: 3, steps: steps) {
        model.zeroGradients()
        let residual = model(x, t) - target
        (residual * residual).mean().backward()
    }
    return (seconds, model.parameterCount)
}

/// Times the forward pass of the shipped prior's U-Net without recording, on `batch` images of
/// 1×32×32 (`PriorArchitecture`'s defaults: base 32, multipliers [1, 2, 2], one residual
/// block per level, 8 groups).
func priorForwardSeconds(batch: Int, steps: Int) -> Double {
    var generator = PhiloxRandom(seed: 0)
    let model = UNet<Float>(
        configuration: UNetConfiguration(
            inputChannels: 1, baseChannels: 32, channelMultipliers: [1, 2, 2], residualBlocksPerLevel: 1, groups: 8,
            timeScale: 1),
        using: &generator)
    let x = Tensor<Float>.normal(shape: [batch, 1, 32, 32], using: &generator)
    let t = Tensor<Float>.uniform(shape: [batch], lower: 0, upper: 1000, using: &generator)
    return timeSteps(warmup: 3, steps: steps) {
        _ = model.inferring(from: x, t)
    }
}

struct PeerFigures: Decodable {
    var torch_version: String
    var threads: Int
    var mlp_adam_step: Double
    var unet_forward_backward: Double
    var unet_parameters: Int
    var unet_forward_backward_flops: Double
    var mlp_adam_step_flops: Double
}

struct PosteriorPeerFigures: Decodable {
    var torch_version: String
    var threads: Int
    var dps_step: Double?
    var deft_step: Double?
    var deft_h_network_parameters: Int
}

/// Runs `script` of benchmarks/peers with `arguments` and decodes its JSON output.
func runPeer<Figures: Decodable>(_ type: Figures.Type, python: String, script name: String, arguments: [String]) -> Figures? {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../peers/\(name)").standardized.path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = [script] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    do {
        try process.run()
    } catch {
        FileHandle.standardError.write(Data("benchmark-foundation: could not start \(python): \(error)\n".utf8))
        return nil
    }
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        FileHandle.standardError.write(Data("benchmark-foundation: \(name) exited with \(process.terminationStatus)\n".utf8))
        return nil
    }
    return try? JSONDecoder().decode(Figures.self, from: output)
}

struct BenchmarkOptions {
    var rounds = 5
    var steps = 20
    /// The one workload to time, or nil for all of them.
    var only: String?
    var peerPython: String? = FileManager.default.isExecutableFile(atPath: ".peers/venv/bin/python") ? ".peers/venv/bin/python" : nil

    init<S: Sequence>(_ arguments: S) where S.Element == String {
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--rounds": rounds = Int(iterator.next() ?? "") ?? rounds
            case "--steps": steps = Int(iterator.next() ?? "") ?? steps
            case "--peer-python": peerPython = iterator.next()
            case "--no-peer": peerPython = nil
            case "--only":
                guard let name = iterator.next(), ["mlp", "unet", "prior", "dps", "deft"].contains(name) else {
                    FileHandle.standardError.write(Data("benchmark-foundation: invalid --only value; expected mlp, unet, prior, dps or deft\n".utf8))
                    exit(2)
                }
                only = name
            default:
                FileHandle.standardError.write(Data("benchmark-foundation: unknown argument \(argument)\n".utf8))
                exit(2)
            }
        }
    }
}

// The arithmetic ceiling: OpenBLAS sgemm on this machine's two cores reaches about
// 100 GFLOP/s per core (square products of size 256 and above).
let ceilingGFLOPs = 100.0 * Double(ProcessInfo.processInfo.activeProcessorCount)

var swiftMLP: [Double] = []
var swiftUNet: [Double] = []
var peerMLP: [Double] = []
var peerUNet: [Double] = []
var priorForward16: [Double] = []
var priorForward64: [Double] = []
var swiftDPS: [Double] = []
var swiftDEFT: [Double] = []
var peerDPS: [Double] = []
var peerDEFT: [Double] = []
var peerFigures: PeerFigures?
var posteriorPeerFigures: PosteriorPeerFigures?
var unetParameters = 0
var deftParameters = 0
func runs(_ workload: String) -> Bool { options.only == nil || options.only == workload }
for round in 1...options.rounds {
    if runs("mlp") { swiftMLP.append(mlpAdamStepSeconds(steps: options.steps * 10)) }
    if runs("unet") {
        let unet = unetForwardBackwardSeconds(steps: options.steps)
        swiftUNet.append(unet.seconds)
        unetParameters = unet.parameters
    }
    if runs("prior") {
        priorForward16.append(priorForwardSeconds(batch: 16, steps: options.steps))
        priorForward64.append(priorForwardSeconds(batch: 64, steps: Swift.max(1, options.steps / 4)))
    }
    if runs("dps") { swiftDPS.append(dpsStepSeconds(steps: options.steps)) }
    if runs("deft") {
        let deft = deftStepSeconds(steps: options.steps)
        swiftDEFT.append(deft.seconds)
        deftParameters = deft.parameters
    }
    if let python = options.peerPython, runs("mlp") || runs("unet"),
        let figures = runPeer(PeerFigures.self, python: python, script: "torch_foundation.py", arguments: ["--steps", String(options.steps)])
    {
        peerFigures = figures
        peerMLP.append(figures.mlp_adam_step)
        peerUNet.append(figures.unet_forward_backward)
    }
    if let python = options.peerPython, runs("dps") || runs("deft") {
        var arguments = ["--steps", String(options.steps), "--dps-schedule-steps", String(dpsScheduleSteps)]
        if let only = options.only {
            arguments += ["--only", only]
        }
        if let figures = runPeer(PosteriorPeerFigures.self, python: python, script: "torch_posterior_steps.py", arguments: arguments) {
            posteriorPeerFigures = figures
            if let seconds = figures.dps_step { peerDPS.append(seconds) }
            if let seconds = figures.deft_step { peerDEFT.append(seconds) }
        }
    }
    FileHandle.standardError.write(Data("round \(round)/\(options.rounds) done\n".utf8))
}

func row(_ name: String, _ swift: [Double], _ peer: [Double], flops: Double?) -> String {
    guard !swift.isEmpty else { return "| \(name) | not run | – | – | – |" }
    let swiftMedian = median(swift)
    var line = String(format: "| %@ | %.3f ms (%.3f–%.3f)", name, swiftMedian * 1e3, swift.min()! * 1e3, swift.max()! * 1e3)
    if peer.isEmpty {
        line += " | – | – "
    } else {
        let peerMedian = median(peer)
        line += String(format: " | %.3f ms (%.3f–%.3f) | %.2f× ", peerMedian * 1e3, peer.min()! * 1e3, peer.max()! * 1e3, peerMedian / swiftMedian)
    }
    if let flops {
        line += String(format: "| %.1f GFLOP/s (%.0f %% of %.0f) |", flops / swiftMedian * 1e-9, flops / swiftMedian * 1e-9 / ceilingGFLOPs * 100, ceilingGFLOPs)
    } else {
        line += "| – |"
    }
    return line
}

print("| workload | Swift median (range) | PyTorch median (range) | PyTorch / Swift | Swift throughput |")
print("| --- | --- | --- | --- | --- |")
print(row("MLP 2-128-128-128-2 Adam step, batch 512", swiftMLP, peerMLP, flops: peerFigures?.mlp_adam_step_flops))
print(row("U-Net 32/64/128 forward+backward, 32×1×28×28", swiftUNet, peerUNet, flops: peerFigures?.unet_forward_backward_flops))
print(row("prior U-Net 32/64/64 forward only, 16×1×32×32", priorForward16, [], flops: nil))
print(row("prior U-Net 32/64/64 forward only, 64×1×32×32", priorForward64, [], flops: nil))
print(row("DPS step, prior U-Net, inpainting, 8×1×32×32", swiftDPS, peerDPS, flops: nil))
print(row("DEFT fine-tuning step, inpainting, batch 16", swiftDEFT, peerDEFT, flops: nil))
print("")
print("rounds: \(options.rounds), U-Net parameters: Swift \(unetParameters), PyTorch \(peerFigures.map { String($0.unet_parameters) } ?? "–"), torch \(peerFigures?.torch_version ?? "not run"), threads \(peerFigures.map { String($0.threads) } ?? "–")")
if runs("dps") || runs("deft") {
    let swiftParameters = deftParameters > 0 ? String(deftParameters) : "–"
    let peerParameters = posteriorPeerFigures.map { String($0.deft_h_network_parameters) } ?? "–"
    print("DPS step: the median of \(dpsScheduleSteps)-step samples divided by \(dpsScheduleSteps); DEFT h-network parameters: Swift \(swiftParameters), PyTorch \(peerParameters); posterior steps: torch \(posteriorPeerFigures?.torch_version ?? "not run"), threads \(posteriorPeerFigures.map { String($0.threads) } ?? "–")")
}
