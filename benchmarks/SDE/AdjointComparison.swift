import Foundation
import NeuralNetworks
import SDECore
import Tensors

// (v) One gradient of an SDE loss side by side with the peers: dX = MLP(X) dt + 0.5 dW in
//     2-D on [0, 1], drift MLP 2-64-64-2 (tanh), 256 paths, 100 steps, Float, loss
//     mean(X_T²), the gradient with respect to the MLP's weights. Swift: the stochastic
//     adjoint with Euler–Maruyama both ways, the same with Heun, and backpropagation
//     through Euler–Maruyama, each on a GridBrownianPath. Peers, run by
//     benchmarks/peers/sde_adjoint_peers.py in alternation: torchsde's sdeint_adjoint and
//     sdeint with backpropagation, a plain PyTorch loop, JAX's grad of a jit-compiled loop
//     and, when installed, diffrax's BacksolveAdjoint with Heun.

struct AdjointPeerSpeeds: Decodable {
    var torch_version: String
    var torchsde_adjoint: Double
    var torchsde_backprop: Double
    var torch_backprop: Double
    var jax_version: String
    var jax_backprop: Double
    var diffrax_version: String?
    var diffrax_backsolve: Double?
}

/// Returns the median seconds of one gradient of mean(X_T²) by `gradient` with `solver`.
func adjointWorkloadSeconds(solver: any SDESolver, gradient: GradientMethod, runs: Int) throws -> Double {
    var generator = PhiloxRandom(seed: 3)
    let model = MLP<Float>(sizes: [2, 64, 64, 2], activation: .tanh, using: &generator)
    let sde = neuralSDE(model: model, sigma: 0.5)
    let (batch, steps) = (256, 100)
    let x0 = Variable(Tensor<Float>.normal(shape: [batch, 2], using: &generator))
    let grid = TimeGrid(from: 0, to: 1, steps: steps)

    var samples: [Double] = []
    for run in 0...runs {
        let brownian = GridBrownianPath<Float>(grid: grid, shape: [batch, 2], seed: UInt64(run))
        model.zeroGradients()
        let elapsed = try seconds {
            let solution = try solve(sde, x0: x0, grid: grid, solver: solver, brownian: brownian, gradient: gradient)
            (solution.terminal * solution.terminal).mean().backward()
        }
        if run > 0 { samples.append(elapsed) }  // The first run warms up caches and the thread pool.
    }
    return median(samples)
}

/// Times (v) in `rounds` alternating rounds and prints the table of medians and ranges.
func runAdjointComparison(runs: Int, rounds: Int, python: String?) throws {
    var swiftAdjoint: [Double] = []
    var swiftHeunAdjoint: [Double] = []
    var swiftBackprop: [Double] = []
    var peers: [AdjointPeerSpeeds] = []
    for round in 1...rounds {
        swiftAdjoint.append(try adjointWorkloadSeconds(solver: EulerMaruyama(), gradient: .adjoint(), runs: runs))
        swiftHeunAdjoint.append(try adjointWorkloadSeconds(solver: Heun(), gradient: .adjoint(), runs: runs))
        swiftBackprop.append(try adjointWorkloadSeconds(solver: EulerMaruyama(), gradient: .backpropagation, runs: runs))
        if let python, let figures = runPeerScript("sde_adjoint_peers.py", python: python, runs: runs, as: AdjointPeerSpeeds.self) {
            peers.append(figures)
        }
        FileHandle.standardError.write(Data("adjoint round \(round)/\(rounds) done\n".utf8))
    }

    let reference = median(swiftAdjoint)
    print("(v) one gradient of mean(X_T²): MLP 2-64-64-2 (tanh) drift, noise 0.5, 256 paths, 100 steps, Float;")
    print("    medians over \(rounds) alternating rounds of \(runs) runs each")
    print("| implementation | median (range) | time / Swift adjoint (Euler–Maruyama) |")
    print("| --- | --- | --- |")
    func line(_ name: String, _ values: [Double]) {
        print(String(
            format: "| %@ | %.1f ms (%.1f–%.1f) | %.2f× |", name, median(values) * 1000, values.min()! * 1000,
            values.max()! * 1000, median(values) / reference))
    }
    line("Swift stochastic adjoint, Euler–Maruyama", swiftAdjoint)
    line("Swift stochastic adjoint, Heun", swiftHeunAdjoint)
    line("Swift backpropagation, Euler–Maruyama", swiftBackprop)
    guard let first = peers.first else { return }
    line("torchsde sdeint_adjoint (euler)", peers.map(\.torchsde_adjoint))
    line("torchsde sdeint (euler) + backward", peers.map(\.torchsde_backprop))
    line("PyTorch \(first.torch_version), plain loop + backward", peers.map(\.torch_backprop))
    line("JAX \(first.jax_version), grad of jit + fori_loop", peers.map(\.jax_backprop))
    let diffrax = peers.compactMap(\.diffrax_backsolve)
    if !diffrax.isEmpty {
        line("diffrax \(first.diffrax_version ?? "") BacksolveAdjoint (Heun)", diffrax)
    }
}
