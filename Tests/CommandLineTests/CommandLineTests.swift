import Foundation
import Imaging
import NeuralNetworks
import Tensors
import XCTest

/// Runs the built `deft` executable: help texts, rejected inputs, and a tiny end-to-end
/// `deft demo --json` on a randomly initialised prior with a 20-step schedule.
final class CommandLineTests: XCTestCase {
    /// The repository root, found from this file's path.
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A run of the tool: its exit status and both output streams.
    struct Run {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    /// Returns the `deft` executable built next to the test bundle.
    static func executable() throws -> URL {
        // `swift test` on Linux runs the bundle `<build>/release/<Package>PackageTests.xctest`
        // itself, so arguments[0] names a file in the products folder.
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            Bundle.main.bundleURL.deletingLastPathComponent(),
            Bundle.main.bundleURL,
        ].map { $0.appendingPathComponent("deft") }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw XCTSkip("no deft executable next to the test bundle (looked at \(candidates.map(\.path))); build it with 'swift build --build-tests'")
        }
        return found
    }

    /// Runs `deft` with `arguments` from the repository root and waits for it.
    func deft(_ arguments: [String]) throws -> Run {
        let process = Process()
        process.executableURL = try Self.executable()
        process.arguments = arguments
        process.currentDirectoryURL = Self.repository
        let (output, error) = (Pipe(), Pipe())
        process.standardOutput = output
        process.standardError = error
        try process.run()
        // Read before waiting, so that a full pipe cannot block the child.
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, standardOutput: String(decoding: outputData, as: UTF8.self),
            standardError: String(decoding: errorData, as: UTF8.self))
    }

    func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("deft-cli-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        return folder
    }

    // MARK: - Help

    func testHelpOfImagingCommands() throws {
        for command in ["demo", "finetune", "evaluate", "mixture"] {
            let run = try deft([command, "--help"])
            XCTAssertEqual(run.status, 0, "deft \(command) --help")
            XCTAssertTrue(run.standardOutput.hasPrefix("usage: deft \(command)"), "deft \(command) --help: \(run.standardOutput.prefix(80))")
            XCTAssertEqual(run.standardError, "", "deft \(command) --help")
        }
    }

    func testToolHelpListsCommands() throws {
        let run = try deft(["--help"])
        XCTAssertEqual(run.status, 0)
        for command in ["demo", "finetune", "evaluate", "mixture"] {
            XCTAssertTrue(run.standardOutput.contains("\n  \(command) "), "deft --help lists \(command)")
        }
    }

    // MARK: - Rejected inputs

    func testUnknownTaskRejected() throws {
        for command in ["demo", "finetune", "evaluate"] {
            let run = try deft([command, "--task", "denoising"])
            XCTAssertEqual(run.status, 1, "deft \(command) --task denoising")
            XCTAssertEqual(run.standardOutput, "")
            XCTAssertTrue(
                run.standardError.contains("invalid value 'denoising' for '--task' of 'deft \(command)': expected one of inpainting, super-resolution"),
                run.standardError)
        }
    }

    func testUnknownOptionRejected() throws {
        let run = try deft(["demo", "--image", "4"])
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.standardError, "deft: error: unknown option '--image' for 'deft demo'; run 'deft demo --help'\n")
    }

    func testInvalidNumbersRejected() throws {
        let cases: [(arguments: [String], message: String)] = [
            (["demo", "--images", "0"], "invalid value '0' for '--images' of 'deft demo': expected an integer from 1 to 1000"),
            (["evaluate", "--images", "1001"], "invalid value '1001' for '--images' of 'deft evaluate': expected an integer from 1 to 1000"),
            (["finetune", "--learning-rate", "fast"], "invalid value 'fast' for '--learning-rate' of 'deft finetune'"),
            (["evaluate", "--split", "fineTuning"], "invalid value 'fineTuning' for '--split' of 'deft evaluate': expected evaluation or validation"),
            (["finetune", "--prior-reuse", "32"], "invalid value '32' for '--prior-reuse' of 'deft finetune': expected an integer from 1 to 16"),
            (
                ["finetune", "--prior-reuse", "3"],
                "invalid value '3' for '--prior-reuse' of 'deft finetune': expected a divisor of the batch size 16"
            ),
            (
                ["demo", "--finetune-batch-size", "8", "--prior-reuse", "3"],
                "invalid value '3' for '--prior-reuse' of 'deft demo': expected a divisor of the batch size 8"
            ),
            (["demo", "--ddrm-steps", "1001"], "invalid value '1001' for '--ddrm-steps' of 'deft demo': expected an integer from 1 to 1000"),
        ]
        for (arguments, message) in cases {
            let run = try deft(arguments)
            XCTAssertEqual(run.status, 1, "\(arguments)")
            XCTAssertTrue(run.standardError.contains(message), "\(arguments): \(run.standardError)")
        }
    }

    func testUnknownMethodRejected() throws {
        let run = try deft(["evaluate", "--methods", "dps,ddim"])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.standardError.contains("invalid value 'dps,ddim' for '--methods'"), run.standardError)
        XCTAssertTrue(run.standardError.contains("deft, dps, pigdm, ddrm, reddiff, pinv"), run.standardError)
    }

    func testMissingFilesRejected() throws {
        let missingNetwork = try deft(["evaluate"])
        XCTAssertEqual(missingNetwork.status, 1)
        XCTAssertTrue(missingNetwork.standardError.contains("'deft evaluate' needs --h-network"), missingNetwork.standardError)

        let absentNetwork = try deft(["evaluate", "--h-network", "/nonexistent/h.safetensors"])
        XCTAssertEqual(absentNetwork.status, 1)
        XCTAssertTrue(
            absentNetwork.standardError.contains("--h-network file not found: /nonexistent/h.safetensors"), absentNetwork.standardError)

        let absentPrior = try deft(["demo", "--prior", "/nonexistent/prior.safetensors"])
        XCTAssertEqual(absentPrior.status, 1)
        XCTAssertTrue(absentPrior.standardError.contains("--prior file not found: /nonexistent/prior.safetensors"), absentPrior.standardError)
    }

    func testPriorAsHNetworkRejected() throws {
        let run = try deft(["evaluate", "--methods", "deft", "--h-network", "models/fashion-mnist-prior.safetensors"])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.standardError.contains("is this an h-transform file?"), run.standardError)
    }

    func testOptionValueMustNotBeOption() throws {
        let run = try deft(["demo", "--output", "--json"])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.standardError.contains("option '--output' of 'deft demo' needs a value, but the next argument is the option '--json'"), run.standardError)
    }

    func testEmptyOptionValueRejected() throws {
        for arguments in [["demo", "--output", ""], ["sample", "--output="]] {
            let run = try deft(arguments)
            XCTAssertEqual(run.status, 1, "\(arguments)")
            XCTAssertTrue(run.standardError.contains("invalid value '' for '--output'"), "\(arguments): \(run.standardError)")
        }
    }

    func testOutputFileRejectedBeforeCompute() throws {
        let file = try temporaryFolder().appendingPathComponent("somefile")
        try Data().write(to: file)
        let commands = [["finetune"], ["sample"], ["control", "--problem", "ct"], ["control", "--problem", "mixture"], ["demo"]]
        for command in commands {
            let started = Date()
            let run = try deft(command + ["--quiet", "--output", file.path])
            XCTAssertEqual(run.status, 1, "\(command)")
            XCTAssertTrue(
                run.standardError.contains("--output '\(file.path)' exists and is not a folder"), "\(command): \(run.standardError)")
            // Each command computes for tens of seconds or more before writing, and the check alone takes under 1 s.
            XCTAssertLessThan(Date().timeIntervalSince(started), 10, "\(command) fails before its computation")
        }
    }

    func testControlProblemNameListsChoices() throws {
        let run = try deft(["control", "--problem", "CT"])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.standardError.contains("invalid value 'CT' for '--problem'"), run.standardError)
        XCTAssertTrue(run.standardError.contains("ct, mixture"), run.standardError)
    }

    func testControlCTObjectiveValidatedFirst() throws {
        let run = try deft(["control", "--problem", "ct", "--objective", "foo"])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.standardError.contains("invalid value 'foo' for '--objective'"), run.standardError)
        XCTAssertFalse(run.standardError.contains("--gradient"), run.standardError)
    }

    func testMissingDataFolderLeavesNoRunFolder() throws {
        let folder = try temporaryFolder()
        for command in ["demo", "finetune"] {
            let run = try deft([command, "--quiet", "--data", "/nonexistent", "--output", folder.path])
            XCTAssertEqual(run.status, 1, command)
            XCTAssertTrue(run.standardError.contains("--data folder '/nonexistent' lacks the Fashion-MNIST files"), run.standardError)
            XCTAssertFalse(run.standardError.contains("apt-get"), "an explicit --data needs no install hint: \(run.standardError)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), [], "no empty run folders")
    }

    func testEvaluateHelpShowsTaskOptional() throws {
        let run = try deft(["evaluate", "--help"])
        XCTAssertTrue(run.standardOutput.hasPrefix("usage: deft evaluate [--task NAME]"), String(run.standardOutput.prefix(80)))
        XCTAssertTrue(run.standardOutput.contains("DPS"), "the help states the cost of DPS")
    }

    // MARK: - Short runs

    func testControlWithFewTrainingStepsRuns() throws {
        let folder = try temporaryFolder()
        for steps in ["1", "5", "9"] {
            let run = try deft([
                "control", "--problem", "mixture", "--training-steps", steps, "--batch-size", "8", "--steps", "10", "--samples", "20",
                "--quiet", "--json", "--output", folder.path,
            ])
            XCTAssertEqual(run.status, 0, "--training-steps \(steps): \(run.standardError)")
            XCTAssertTrue(run.standardOutput.contains("\"mode_masses\""), "--training-steps \(steps)")
        }
    }

    /// Writes the tiny prior with every weight replaced by NaN, a corrupt prior file.
    func writeNaNPrior(in folder: URL) throws -> URL {
        let prior = try writeTinyPrior(in: folder)

        // A safetensors file is an 8-byte little-endian header length, the JSON header, then
        // the weights, which are all Float32 here.
        var bytes = [UInt8](try Data(contentsOf: prior))
        let headerLength = bytes[0..<8].enumerated().reduce(0) { $0 | (Int($1.element) << (8 * $1.offset)) }
        let nan = withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Array($0) }
        for offset in stride(from: 8 + headerLength, to: bytes.count - 3, by: 4) {
            bytes.replaceSubrange(offset..<(offset + 4), with: nan)
        }
        try Data(bytes).write(to: prior)
        return prior
    }

    func testSampleFromNaNPriorFails() throws {
        let folder = try temporaryFolder()
        let prior = try writeNaNPrior(in: folder)

        let output = folder.appendingPathComponent("runs")
        let run = try deft([
            "sample", "--quiet", "--prior", prior.path, "--count", "2", "--batch-size", "2", "--steps", "2", "--output", output.path,
        ])
        XCTAssertEqual(run.status, 1, run.standardError)
        XCTAssertTrue(run.standardError.contains("2 of 2 samples of DDIM"), run.standardError)
        XCTAssertTrue(run.standardError.contains("the sampler diverged or the prior file"), run.standardError)
        let runs = try FileManager.default.contentsOfDirectory(atPath: output.path)
        XCTAssertEqual(runs.count, 1)
        let png = output.appendingPathComponent(runs.first ?? "").appendingPathComponent("samples.png")
        let image = try GrayscaleImage(contentsOfPNG: png)
        XCTAssertTrue(image.pixels.contains(0), "NaN pixels are drawn black")
    }

    func testEvaluateWarnsOnNaNReconstructions() throws {
        guard FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory.path) else {
            throw XCTSkip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
        }
        let folder = try temporaryFolder()
        let prior = try writeNaNPrior(in: folder)
        let run = try deft([
            "evaluate", "--quiet", "--json", "--methods", "dps,pinv", "--images", "2", "--batch-size", "2", "--prior", prior.path,
            "--output", folder.path,
        ])
        XCTAssertEqual(run.status, 0, run.standardError)
        XCTAssertTrue(run.standardError.contains("deft: warning: dps: 2 of 2 reconstructions contain NaN or ±∞"), run.standardError)
        XCTAssertFalse(run.standardError.contains("pinv"), "A⁺y does not use the prior: \(run.standardError)")
        XCTAssertTrue(run.standardOutput.contains("\"nan\""), "the dps row is flagged nan: \(run.standardOutput)")
    }

    func testEvaluateOnValidationSplit() throws {
        guard FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory.path) else {
            throw XCTSkip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
        }
        let folder = try temporaryFolder()
        let arguments = ["evaluate", "--quiet", "--methods", "pinv", "--images", "2", "--batch-size", "2", "--output", folder.path]
        let validation = try deft(arguments + ["--json", "--split", "validation"])
        XCTAssertEqual(validation.status, 0, validation.standardError)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(validation.standardOutput.utf8)) as? [String: Any])
        XCTAssertEqual(report["split"] as? String, "validation")

        let page = try deft(arguments + ["--split", "validation"])
        XCTAssertTrue(
            page.standardOutput.contains("The first 2 Fashion-MNIST validation images (test images 1000..<1002)"), page.standardOutput)
        let evaluation = try deft(arguments)
        XCTAssertTrue(
            evaluation.standardOutput.contains("The first 2 Fashion-MNIST evaluation images (test images 0..<2)"), evaluation.standardOutput)

        // Other images, so other scores of A⁺y.
        let psnr = { (text: String) in text.split(separator: "\n").first { $0.hasPrefix("| pinv") } }
        XCTAssertNotNil(psnr(page.standardOutput))
        XCTAssertNotEqual(psnr(page.standardOutput), psnr(evaluation.standardOutput))
    }

    // MARK: - End to end

    /// Writes a randomly initialised prior with 4 base channels, one level and a 20-step
    /// schedule, so that every method runs its published number of steps in seconds.
    func writeTinyPrior(in folder: URL) throws -> URL {
        let architecture = PriorArchitecture(baseChannels: 4, channelMultipliers: [1], groups: 2, diffusionSteps: 20)
        var generator = PhiloxRandom(seed: 1)
        let network = UNet<Float>(configuration: architecture.unetConfiguration, using: &generator)
        let url = folder.appendingPathComponent("tiny-prior.safetensors")
        try UNetNoisePredictor(network: network, architecture: architecture).write(to: url)
        return url
    }

    /// Runs `deft demo --json` on the tiny prior with 2 images and 4 fine-tuning steps.
    func runTinyDemo(task: String, folder: URL) throws -> (run: Run, json: [String: Any]) {
        guard FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory.path) else {
            throw XCTSkip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
        }
        let prior = try writeTinyPrior(in: folder)
        let run = try deft([
            "demo", "--json", "--quiet", "--task", task, "--images", "2", "--batch-size", "2", "--finetune-steps", "4",
            "--finetune-batch-size", "2", "--prior", prior.path, "--output", folder.path,
        ])
        XCTAssertEqual(run.status, 0, run.standardError)
        XCTAssertEqual(run.standardError, "", "--quiet leaves standard error empty")
        let object = try JSONSerialization.jsonObject(with: Data(run.standardOutput.utf8))
        return (run, try XCTUnwrap(object as? [String: Any], "the JSON is an object"))
    }

    func testDemoJSONSchema() throws {
        let folder = try temporaryFolder()
        let (_, json) = try runTinyDemo(task: "inpainting", folder: folder)
        XCTAssertEqual(Set(json.keys), ["task", "methods"])
        XCTAssertEqual(json["task"] as? String, "inpainting")

        let methods = try XCTUnwrap(json["methods"] as? [[String: Any]])
        XCTAssertEqual(methods.map { $0["name"] as? String }, ["deft", "dps", "pigdm", "ddrm", "reddiff", "pinv"])
        let keys: Set = ["name", "psnr", "ssim", "top1", "data_consistency", "finetune_seconds", "sample_seconds_per_image", "parameters"]
        for method in methods {
            let name = method["name"] as? String ?? "?"
            XCTAssertEqual(Set(method.keys), keys, name)
            for key in keys.subtracting(["name"]) {
                let value = try XCTUnwrap(method[key] as? Double, "\(name).\(key) is a number")
                XCTAssertTrue(value.isFinite, "\(name).\(key) = \(value)")
            }
            let top1 = method["top1"] as? Double ?? -1
            XCTAssertTrue((0...1).contains(top1), "\(name).top1 = \(top1) is a fraction")
        }

        let deftResult = methods[0]
        XCTAssertGreaterThan(deftResult["parameters"] as? Double ?? 0, 0, "DEFT trains parameters")
        XCTAssertGreaterThan(deftResult["finetune_seconds"] as? Double ?? 0, 0, "DEFT takes time to fine-tune")
        for baseline in methods.dropFirst() {
            XCTAssertEqual(baseline["parameters"] as? Double, 0, "\(baseline["name"]!) is training-free")
            XCTAssertEqual(baseline["finetune_seconds"] as? Double, 0, "\(baseline["name"]!) is training-free")
        }

        // The run folder contains the network, the loss and the three result files.
        let runs = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix("demo-inpainting-") }
        XCTAssertEqual(runs.count, 1)
        let runFolder = folder.appendingPathComponent(runs.first ?? "")
        for file in ["h-network.safetensors", "loss.csv", "results.md", "results.json", "reconstructions.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: runFolder.appendingPathComponent(file).path), file)
        }
        let loss = try String(contentsOf: runFolder.appendingPathComponent("loss.csv"), encoding: .utf8)
        XCTAssertEqual(loss.split(separator: "\n").count, 5, "header and 4 steps")

        // The detailed JSON and the page state the classifier's top-1 on the ground truth.
        let detailed = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: runFolder.appendingPathComponent("results.json"))) as? [String: Any])
        let groundTruthTop1 = try XCTUnwrap(detailed["ground_truth_top1"] as? Double)
        XCTAssertTrue((0...1).contains(groundTruthTop1), "ground_truth_top1 = \(groundTruthTop1)")
        let page = try String(contentsOf: runFolder.appendingPathComponent("results.md"), encoding: .utf8)
        XCTAssertTrue(page.contains("of these ground-truth images correctly"), page)

        // The calibrated read-out step is one of the tiny prior's 20 steps, and a step
        // beyond them is rejected.
        let network = runFolder.appendingPathComponent("h-network.safetensors")
        let metadata = try SafeTensorsFile(contentsOf: network).metadata
        let step = try XCTUnwrap(metadata["estimate_timestep"].flatMap(Int.init), "the file records t*")
        XCTAssertTrue((0..<20).contains(step), "t* = \(step)")
        let beyond = try deft([
            "evaluate", "--methods", "deft", "--images", "1", "--h-network", network.path, "--prior",
            folder.appendingPathComponent("tiny-prior.safetensors").path, "--deft-estimate-step", "20",
        ])
        XCTAssertEqual(beyond.status, 1)
        XCTAssertTrue(
            beyond.standardError.contains("invalid value '20' for '--deft-estimate-step' of 'deft evaluate': expected an integer from 0 to 19"),
            beyond.standardError)

        // The network is for inpainting: evaluating blur with it names the mismatch.
        let mismatch = try deft([
            "evaluate", "--task", "blur", "--methods", "deft", "--h-network", runFolder.appendingPathComponent("h-network.safetensors").path,
        ])
        XCTAssertEqual(mismatch.status, 1)
        XCTAssertTrue(mismatch.standardError.contains("trained for task 'inpainting', not 'blur'"), mismatch.standardError)
    }

    func testDemoJSONNullsForInapplicableMethods() throws {
        let folder = try temporaryFolder()
        let (_, json) = try runTinyDemo(task: "hdr", folder: folder)
        let methods = try XCTUnwrap(json["methods"] as? [[String: Any]])
        let byName = Dictionary(uniqueKeysWithValues: methods.map { ($0["name"] as? String ?? "?", $0) })
        for name in ["ddrm", "pinv"] {
            let method = try XCTUnwrap(byName[name])
            for key in ["psnr", "ssim", "top1", "data_consistency", "finetune_seconds", "sample_seconds_per_image", "parameters"] {
                XCTAssertTrue(method[key] is NSNull, "\(name).\(key) is null on hdr, got \(String(describing: method[key]))")
            }
        }
        for name in ["deft", "dps", "pigdm", "reddiff"] {
            XCTAssertTrue(byName[name]?["psnr"] is Double, "\(name) runs on hdr")
        }
    }
}
