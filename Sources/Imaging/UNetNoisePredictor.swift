import Foundation
import NeuralNetworks
import SDECore
import Tensors

/// A `UNet` ε-model seen through `NoisePredictor`: `ε_θ(x, k)` for images `x` of shape
/// `[N, 1, H, W]` at DDPM steps `k ∈ {0, …, N_steps − 1}`, with ᾱ at step k equal to
/// `schedule.alphaBars[k]`.
///
/// Samplers and conditioning methods see the prior only through this conformance.
public final class UNetNoisePredictor<Scalar: TensorScalar>: NoisePredictor {
    public let network: UNet<Scalar>
    public let architecture: PriorArchitecture

    /// The schedule whose steps the network takes as time.
    public var schedule: DDPMSchedule { architecture.schedule }

    /// Wraps `network`, which must have been built from `architecture.unetConfiguration`.
    public init(network: UNet<Scalar>, architecture: PriorArchitecture) {
        precondition(
            network.configuration == architecture.unetConfiguration,
            "UNetNoisePredictor: network configuration \(network.configuration) does not match \(architecture.unetConfiguration)")
        self.network = network
        self.architecture = architecture
    }

    public func predictNoise(_ x: Variable<Scalar>, at t: Tensor<Scalar>) -> Variable<Scalar> {
        network(x, Variable(t))
    }
}

/// A prior file that could not be read.
public struct PriorFileError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String

    public var description: String { "\(path): \(reason)" }
}

extension UNetNoisePredictor {
    /// The metadata key of the architecture's JSON.
    static var architectureKey: String { "architecture" }

    /// Loads a prior written by `write(to:metadata:)`: a safetensors file of the U-Net's
    /// parameters under their `namedParameters` names, with the architecture as JSON in
    /// the metadata key `architecture`. Stored `F32` tensors are widened for `Double`.
    public convenience init(contentsOf url: URL) throws {
        let file = try SafeTensorsFile(contentsOf: url)
        guard let json = file.metadata[Self.architectureKey] else {
            throw PriorFileError(path: url.path, reason: "metadata has no '\(Self.architectureKey)' entry; is this a prior file?")
        }
        let architecture: PriorArchitecture
        do {
            architecture = try JSONDecoder().decode(PriorArchitecture.self, from: Data(json.utf8))
        } catch {
            throw PriorFileError(path: url.path, reason: "invalid architecture JSON \(json): \(error)")
        }

        // The initial draw is overwritten below; any generator will do.
        var generator = PhiloxRandom(seed: 0)
        let network = UNet<Scalar>(configuration: architecture.unetConfiguration, using: &generator)
        let values = try file.tensors(as: Scalar.self, convertingDtype: true)
        let expected = Set(network.namedParameters.map(\.name))
        guard Set(values.keys) == expected else {
            let missing = expected.subtracting(values.keys).sorted()
            let unknown = Set(values.keys).subtracting(expected).sorted()
            throw PriorFileError(
                path: url.path, reason: "tensors do not match the architecture: missing \(missing), unknown \(unknown)")
        }
        for (name, parameter) in network.namedParameters where values[name]!.shape != parameter.value.shape {
            throw PriorFileError(
                path: url.path, reason: "tensor \(name) has shape \(values[name]!.shape), the architecture needs \(parameter.value.shape)")
        }
        network.loadParameterValues(values)
        self.init(network: network, architecture: architecture)
    }

    /// Writes the network's parameters and architecture as a prior file, atomically.
    /// `metadata` adds entries such as the training step; the key `architecture` is reserved.
    public func write(to url: URL, metadata: [String: String] = [:]) throws {
        precondition(metadata[Self.architectureKey] == nil, "UNetNoisePredictor.write: metadata key '\(Self.architectureKey)' is reserved")
        var entries = metadata
        entries[Self.architectureKey] = try architecture.jsonString()
        try SafeTensorsFile.write(network.parameterValues, metadata: entries, to: url)
    }
}

extension PriorArchitecture {
    /// Encodes the architecture as compact JSON with sorted keys.
    func jsonString() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
