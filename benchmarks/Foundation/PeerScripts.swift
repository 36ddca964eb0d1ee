import Foundation

/// The output of peers/torch_foundation.py.
struct PeerFigures: Decodable {
    var torch_version: String
    var threads: Int
    var mlp_adam_step: Double
    var unet_forward_backward: Double
    var unet_parameters: Int
    var unet_forward_backward_flops: Double
    var mlp_adam_step_flops: Double
}

/// The output of peers/torch_posterior_steps.py.
struct PosteriorPeerFigures: Decodable {
    var torch_version: String
    var threads: Int
    var dps_step: Double?
    var deft_step: Double?
    var deft_h_network_parameters: Int
}

/// The output of peers/jax_foundation.py.
struct JAXFigures: Decodable {
    var jax_version: String
    /// The XLA backend the steps ran on, such as "cpu".
    var backend: String
    var mlp_adam_step: Double
    var unet_forward_backward: Double
    var unet_parameters: Int
}

/// The output of peers/jax_posterior_steps.py.
struct PosteriorJAXFigures: Decodable {
    var jax_version: String
    var backend: String
    var dps_step: Double?
    var deft_step: Double?
    var deft_h_network_parameters: Int
}

/// Runs the scripts of benchmarks/peers with one Python and skips those that failed before.
final class PeerScriptRunner {
    let python: String
    /// The scripts that failed in an earlier round.
    private(set) var failedScripts: Set<String> = []

    init(python: String) {
        self.python = python
    }

    /// Runs `script` of benchmarks/peers with `arguments` and decodes its JSON output.
    ///
    /// Returns nil, after a message on stderr, when the script cannot start, exits with an
    /// error or prints JSON that does not decode, as a peer without its framework does.
    /// Later calls then skip that script and return nil.
    func run<Figures: Decodable>(_ type: Figures.Type, script name: String, arguments: [String]) -> Figures? {
        guard !failedScripts.contains(name) else { return nil }
        let figures = launch(type, script: name, arguments: arguments)
        if figures == nil {
            failedScripts.insert(name)
            FileHandle.standardError.write(Data("benchmark-foundation: \(name) failed, so later rounds skip it and its columns stay empty\n".utf8))
        }
        return figures
    }

    private func launch<Figures: Decodable>(_ type: Figures.Type, script name: String, arguments: [String]) -> Figures? {
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
            FileHandle.standardError.write(Data("benchmark-foundation: \(name) exited with status \(process.terminationStatus)\n".utf8))
            return nil
        }
        do {
            return try JSONDecoder().decode(Figures.self, from: output)
        } catch {
            FileHandle.standardError.write(Data("benchmark-foundation: invalid JSON output from \(name): \(error)\n".utf8))
            return nil
        }
    }
}
