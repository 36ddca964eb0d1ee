import Foundation
import NeuralNetworks
import Tensors

// Times the foundation workloads side by side with PyTorch and JAX in one invocation:
// one Adam step of an MLP 2-128-128-128-2 (SiLU) on a batch of 512, and the forward and
// backward pass of a U-Net (32/64/128 channels) on a batch of 32 images of 1×28×28
// (peers/torch_foundation.py and peers/jax_foundation.py). Each round times the Swift
// workloads and then runs each peer script once, so that all three implementations see
// the same machine load, and records the median of each one's timed steps.
//
// It also times the forward pass alone, without a graph, of the shipped image prior's
// U-Net (32/64/64 channels, 1×32×32 images) at batches of 16 and 64: the call that
// samplers repeat hundreds of times per batch of images. The peers do not run this one.
//
// Two conditional-sampling steps on that U-Net run side by side with the peers
// (peers/torch_posterior_steps.py and peers/jax_posterior_steps.py): one DPS step at
// batch 8 and one DEFT fine-tuning step at batch 16, both on inpainting
// (PosteriorStepWorkloads.swift).
//
// --peer-python names the Python that runs the peer scripts, by default .peers/venv's,
// and --no-peer times Swift alone. A peer script that fails, such as the JAX one when
// JAX is not installed, prints why on stderr. Its columns then stay empty and later
// rounds skip it, while the other implementations still run.
//
// usage: benchmark-foundation [--rounds N] [--steps N] [--peer-python PATH] [--no-peer]
//                             [--only mlp|unet|prior|dps|deft] [--help]

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
var jaxMLP: [Double] = []
var jaxUNet: [Double] = []
var jaxDPS: [Double] = []
var jaxDEFT: [Double] = []
var peerFigures: PeerFigures?
var posteriorPeerFigures: PosteriorPeerFigures?
var jaxFigures: JAXFigures?
var posteriorJAXFigures: PosteriorJAXFigures?
var unetParameters = 0
var deftParameters = 0
func runs(_ workload: String) -> Bool { options.only == nil || options.only == workload }
let peers = options.peerPython.map(PeerScriptRunner.init(python:))
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
    if let peers, runs("mlp") || runs("unet"),
        let figures = peers.run(PeerFigures.self, script: "torch_foundation.py", arguments: ["--steps", String(options.steps)])
    {
        peerFigures = figures
        peerMLP.append(figures.mlp_adam_step)
        peerUNet.append(figures.unet_forward_backward)
    }
    if let peers, runs("mlp") || runs("unet"),
        let figures = peers.run(JAXFigures.self, script: "jax_foundation.py", arguments: ["--steps", String(options.steps)])
    {
        jaxFigures = figures
        jaxMLP.append(figures.mlp_adam_step)
        jaxUNet.append(figures.unet_forward_backward)
    }
    if let peers, runs("dps") || runs("deft") {
        var arguments = ["--steps", String(options.steps), "--dps-schedule-steps", String(dpsScheduleSteps)]
        if let only = options.only {
            arguments += ["--only", only]
        }
        if let figures = peers.run(PosteriorPeerFigures.self, script: "torch_posterior_steps.py", arguments: arguments) {
            posteriorPeerFigures = figures
            if let seconds = figures.dps_step { peerDPS.append(seconds) }
            if let seconds = figures.deft_step { peerDEFT.append(seconds) }
        }
        if let figures = peers.run(PosteriorJAXFigures.self, script: "jax_posterior_steps.py", arguments: arguments) {
            posteriorJAXFigures = figures
            if let seconds = figures.dps_step { jaxDPS.append(seconds) }
            if let seconds = figures.deft_step { jaxDEFT.append(seconds) }
        }
    }
    FileHandle.standardError.write(Data("round \(round)/\(options.rounds) done\n".utf8))
}

/// Formats a table row: Swift's median and range, then each peer's median, range and
/// time ratio to Swift (PyTorch, then JAX), then Swift's throughput.
func row(_ name: String, _ swift: [Double], torch: [Double], jax: [Double], flops: Double?) -> String {
    guard !swift.isEmpty else { return "| \(name) | not run | – | – | – | – | – |" }
    let swiftMedian = median(swift)
    var line = String(format: "| %@ | %.3f ms (%.3f–%.3f)", name, swiftMedian * 1e3, swift.min()! * 1e3, swift.max()! * 1e3)
    for peer in [torch, jax] {
        if peer.isEmpty {
            line += " | – | – "
        } else {
            let peerMedian = median(peer)
            line += String(format: " | %.3f ms (%.3f–%.3f) | %.2f× ", peerMedian * 1e3, peer.min()! * 1e3, peer.max()! * 1e3, peerMedian / swiftMedian)
        }
    }
    if let flops {
        line += String(format: "| %.1f GFLOP/s (%.0f %% of %.0f) |", flops / swiftMedian * 1e-9, flops / swiftMedian * 1e-9 / ceilingGFLOPs * 100, ceilingGFLOPs)
    } else {
        line += "| – |"
    }
    return line
}

print("| workload | Swift median (range) | PyTorch median (range) | PyTorch / Swift | JAX median (range) | JAX / Swift | Swift throughput |")
print("| --- | --- | --- | --- | --- | --- | --- |")
print(row("MLP 2-128-128-128-2 Adam step, batch 512", swiftMLP, torch: peerMLP, jax: jaxMLP, flops: peerFigures?.mlp_adam_step_flops))
print(row("U-Net 32/64/128 forward+backward, 32×1×28×28", swiftUNet, torch: peerUNet, jax: jaxUNet, flops: peerFigures?.unet_forward_backward_flops))
print(row("prior U-Net 32/64/64 forward only, 16×1×32×32", priorForward16, torch: [], jax: [], flops: nil))
print(row("prior U-Net 32/64/64 forward only, 64×1×32×32", priorForward64, torch: [], jax: [], flops: nil))
print(row("DPS step, prior U-Net, inpainting, 8×1×32×32", swiftDPS, torch: peerDPS, jax: jaxDPS, flops: nil))
print(row("DEFT fine-tuning step, inpainting, batch 16", swiftDEFT, torch: peerDEFT, jax: jaxDEFT, flops: nil))
print("")
print("rounds: \(options.rounds), U-Net parameters: Swift \(unetParameters), PyTorch \(peerFigures.map { String($0.unet_parameters) } ?? "–"), JAX \(jaxFigures.map { String($0.unet_parameters) } ?? "–"); torch \(peerFigures?.torch_version ?? "not run"), threads \(peerFigures.map { String($0.threads) } ?? "–"); jax \(jaxFigures.map { "\($0.jax_version) on \($0.backend)" } ?? "not run")")
if runs("dps") || runs("deft") {
    let swiftParameters = deftParameters > 0 ? String(deftParameters) : "–"
    let peerParameters = posteriorPeerFigures.map { String($0.deft_h_network_parameters) } ?? "–"
    let jaxParameters = posteriorJAXFigures.map { String($0.deft_h_network_parameters) } ?? "–"
    print("DPS step: the median of \(dpsScheduleSteps)-step samples divided by \(dpsScheduleSteps); DEFT h-network parameters: Swift \(swiftParameters), PyTorch \(peerParameters), JAX \(jaxParameters); posterior steps: torch \(posteriorPeerFigures?.torch_version ?? "not run"), threads \(posteriorPeerFigures.map { String($0.threads) } ?? "–"); jax \(posteriorJAXFigures.map { "\($0.jax_version) on \($0.backend)" } ?? "not run")")
}
