import Foundation
import NeuralNetworks
import SDECore
import Tensors
import XCTest

/// Euler–Maruyama on given Brownian increments, in Swift and in PyTorch, with the same MLP
/// weights: the terminal states, the loss mean(X_T²) and its gradient with respect to the
/// weights by backpropagation must agree in Float.
///
/// The PyTorch side is benchmarks/peers/sde_agreement.py, run with .peers/venv/bin/python
/// (made by benchmarks/peers/install); the test skips when that interpreter or its torch
/// is missing.
///
/// Tolerances: each of the 100 steps adds Float rounding of about 6e-8 relative in both
/// implementations, which sum their products in different orders. The states may so drift
/// apart by about 100 × 6e-8 ≈ 6e-6 relative. The bounds, 1e-4 absolute on states of size
/// about 1 and 1e-4 relative to the largest gradient entry, leave a factor of 10 for growth
/// through the tanh network.
final class TorchSDEAgreementTests: XCTestCase {
    /// The Brownian path of the recorded increments on a uniform grid: step n of the grid
    /// gets increments[n], as every fixed-step solve queries it.
    final class RecordedBrownianPath: BrownianPath {
        typealias Scalar = Float

        let grid: [Double]
        let increments: [Tensor<Float>]
        let shape: [Int]
        let levyArea = LevyArea.none

        init(grid: [Double], increments: [Tensor<Float>]) {
            self.grid = grid
            self.increments = increments
            shape = increments[0].shape
        }

        var t0: Double { grid[0] }
        var t1: Double { grid[grid.count - 1] }

        func increment(from s: Double, to t: Double) -> BrownianIncrement<Float> {
            guard let step = grid.firstIndex(of: s), step + 1 < grid.count, grid[step + 1] == t else {
                preconditionFailure("RecordedBrownianPath: [\(s), \(t)] is not one step of the grid")
            }
            return BrownianIncrement(dW: increments[step])
        }
    }

    var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    func testEulerMaruyamaLossAndGradientMatchPyTorch() throws {
        let python = repositoryRoot.appendingPathComponent(".peers/venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: python.path), try runs(python, ["-c", "import torch, numpy"]) else {
            throw XCTSkip("\(python.path) with torch and numpy is missing; run benchmarks/peers/install")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sde-agreement-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        // The workload: dX = MLP(X) dt + 0.5 dW on [0, 1], 100 steps, 64 paths.
        let (batch, steps, sigma) = (64, 100, Float(0.5))
        var generator = PhiloxRandom(seed: 17)
        let model = MLP<Float>(sizes: [2, 64, 64, 2], activation: .tanh, using: &generator)
        let x0 = Tensor<Float>.normal(shape: [batch, 2], using: &generator)
        let h = 1.0 / Double(steps)
        let increments = (0..<steps).map { _ in
            Tensor<Float>.normal(shape: [batch, 2], standardDeviation: Float(h.squareRoot()), using: &generator)
        }

        try NumPyFile.write(x0, to: directory.appendingPathComponent("x0.npy"))
        try NumPyFile.write(
            Tensor.concatenate(increments.map { $0.reshaped(to: [1, batch, 2]) }, alongAxis: 0),
            to: directory.appendingPathComponent("increments.npy"))
        for (name, parameter) in model.namedParameters {
            try NumPyFile.write(parameter.value, to: directory.appendingPathComponent("\(name).npy"))
        }
        try Data(#"{"sigma": 0.5, "steps": 100}"#.utf8).write(to: directory.appendingPathComponent("settings.json"))

        // Swift: Euler–Maruyama through `solve` on the recorded increments, backpropagation.
        let sde = ClosureSDE<Float>(
            noiseType: .additive(.diagonal), parameters: model.parameters, drift: { _, x in model(x) },
            diffusion: { _, x in Variable(Tensor(shape: x.shape, repeating: sigma)) })
        let grid = TimeGrid(from: 0, to: 1, steps: steps)
        let solution = try solve(
            sde, x0: Variable(x0), grid: grid, solver: EulerMaruyama(),
            brownian: RecordedBrownianPath(grid: grid.points, increments: increments), gradient: .backpropagation)
        let loss = (solution.terminal * solution.terminal).mean()
        loss.backward()

        // PyTorch on the same files.
        let script = repositoryRoot.appendingPathComponent("benchmarks/peers/sde_agreement.py")
        XCTAssertTrue(try runs(python, [script.path, directory.path]), "sde_agreement.py failed; see the log above")

        let torchTerminal = try NumPyFile.read(Float.self, from: directory.appendingPathComponent("terminal.npy"))
        let torchLoss = try NumPyFile.read(Float.self, from: directory.appendingPathComponent("loss.npy"))
        let stateGap = zip(solution.terminal.value.scalars, torchTerminal.scalars).map { Swift.abs($0 - $1) }.max()!
        XCTAssertEqual(torchTerminal.shape, [batch, 2])
        print("Euler–Maruyama against PyTorch: max state difference \(stateGap), loss \(loss.value.scalar) against \(torchLoss.scalars[0])")
        XCTAssertLessThan(stateGap, 1e-4, "max |X_T(Swift) − X_T(PyTorch)|")
        XCTAssertEqual(loss.value.scalar, torchLoss.scalars[0], accuracy: 1e-5 * Swift.abs(torchLoss.scalars[0]), "loss")

        for (name, parameter) in model.namedParameters {
            let torchGradient = try NumPyFile.read(Float.self, from: directory.appendingPathComponent("grad.\(name).npy"))
            XCTAssertEqual(torchGradient.shape, parameter.value.shape, name)
            let scale = torchGradient.scalars.map { Swift.abs($0) }.max()!
            let gap = zip(parameter.grad!.scalars, torchGradient.scalars).map { Swift.abs($0 - $1) }.max()!
            print("gradient of \(name): max difference \(gap), largest entry \(scale)")
            XCTAssertLessThan(gap, 1e-4 * scale, "gradient of \(name): max difference \(gap), largest entry \(scale)")
        }
    }

    /// Runs `executable` with `arguments` and returns whether it exited with status 0;
    /// prints its output when it did not.
    private func runs(_ executable: URL, _ arguments: [String]) throws -> Bool {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let log = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if process.terminationStatus != 0 { print(log) }
        return process.terminationStatus == 0
    }
}
