import Foundation
import NeuralNetworks
import Tensors

/// A weight file of an `ImageHTransformNetwork` that could not be read or does not match
/// what the caller expects.
public struct HTransformFileError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String

    public var description: String { "\(path): \(reason)" }
}

/// Weight files: safetensors with the parameters under their `namedParameters` names and
/// the metadata `format` (`deft-image-h-transform-1`), `architecture` (the
/// `ImageHTransformArchitecture` as JSON) and, when the network has one, `task`.
extension ImageHTransformNetwork {
    /// The `format` metadata of a weight file.
    public static var fileFormat: String { "deft-image-h-transform-1" }
    static var reservedMetadataKeys: [String] { ["format", "architecture", "task"] }

    /// Writes the parameters, architecture and task atomically. `metadata` adds entries
    /// such as the training settings; the keys `format`, `architecture` and `task` are reserved.
    public func save(to url: URL, metadata: [String: String] = [:]) throws {
        for key in Self.reservedMetadataKeys {
            precondition(metadata[key] == nil, "ImageHTransformNetwork.save: metadata key '\(key)' is reserved")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var entries = metadata
        entries["format"] = Self.fileFormat
        entries["architecture"] = String(decoding: try encoder.encode(architecture), as: UTF8.self)
        if let task {
            entries["task"] = task
        }
        try SafeTensorsFile.write(parameterValues, metadata: entries, to: url)
    }

    /// Loads a network written by `save(to:metadata:)`. Stored `F32` tensors are widened
    /// for `Double`.
    ///
    /// - Parameter expectedTask: the task the caller will use the network for; a file
    ///   saved for another task, or with no task, is rejected. Nil accepts any.
    /// - Throws: `HTransformFileError` for a file of another format or task, an invalid
    ///   architecture, or tensors that do not match the architecture; `WeightFileError`
    ///   for a file that is missing or not valid safetensors.
    public convenience init(contentsOf url: URL, expectedTask: String? = nil) throws {
        let file = try SafeTensorsFile(contentsOf: url)
        func failure(_ reason: String) -> HTransformFileError { HTransformFileError(path: url.path, reason: reason) }

        guard file.metadata["format"] == Self.fileFormat else {
            throw failure("metadata 'format' is '\(file.metadata["format"] ?? "missing")', expected '\(Self.fileFormat)'; is this an h-transform file?")
        }
        guard let json = file.metadata["architecture"] else {
            throw failure("metadata has no 'architecture' entry")
        }
        let architecture: ImageHTransformArchitecture
        do {
            architecture = try JSONDecoder().decode(ImageHTransformArchitecture.self, from: Data(json.utf8))
        } catch {
            throw failure("invalid architecture JSON \(json): \(error)")
        }
        let task = file.metadata["task"]
        if let expectedTask, task != expectedTask {
            throw failure("the network was trained for task '\(task ?? "none")', not '\(expectedTask)'")
        }

        // The initial draw is overwritten below; any generator will do.
        var generator = PhiloxRandom(seed: 0)
        self.init(architecture: architecture, task: task, using: &generator)
        let values = try file.tensors(as: Scalar.self, convertingDtype: true)
        let expected = Set(namedParameters.map(\.name))
        guard Set(values.keys) == expected else {
            let missing = expected.subtracting(values.keys).sorted()
            let unknown = Set(values.keys).subtracting(expected).sorted()
            throw failure("tensors do not match the architecture: missing \(missing), unknown \(unknown)")
        }
        for (name, parameter) in namedParameters where values[name]!.shape != parameter.value.shape {
            throw failure("tensor \(name) has shape \(values[name]!.shape), the architecture needs \(parameter.value.shape)")
        }
        loadParameterValues(values)
    }
}
