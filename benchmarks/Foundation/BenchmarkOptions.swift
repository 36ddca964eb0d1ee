import Foundation

/// The command-line options of benchmark-foundation.
struct BenchmarkOptions {
    static let usage = """
        usage: benchmark-foundation [options]

        Times the foundation workloads of the Swift library and of its PyTorch and JAX peers
        (benchmarks/peers), alternating them in rounds, and prints a Markdown table of the
        medians, their ranges over the rounds and each peer's time ratio to Swift.

        options:
          --rounds N           rounds, each timing Swift and then PyTorch and JAX (default 5)
          --steps N            timed steps per round of each workload; the MLP takes ten
                               times as many (default 20)
          --only WORKLOAD      time only mlp, unet, prior, dps or deft
          --peer-python PATH   Python that runs the peer scripts (default
                               .peers/venv/bin/python when it exists)
          --no-peer            time Swift alone
          --help               show this text
        """

    var rounds = 5
    var steps = 20
    /// The one workload to time, or nil for all of them.
    var only: String?
    var peerPython: String? = FileManager.default.isExecutableFile(atPath: ".peers/venv/bin/python") ? ".peers/venv/bin/python" : nil

    init<S: Sequence>(_ arguments: S) where S.Element == String {
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--rounds": rounds = Self.positiveInteger(iterator.next(), option: argument)
            case "--steps": steps = Self.positiveInteger(iterator.next(), option: argument)
            case "--peer-python":
                guard let path = iterator.next() else { Self.fail("--peer-python needs a path to a Python executable") }
                peerPython = path
            case "--no-peer": peerPython = nil
            case "--only":
                guard let name = iterator.next(), ["mlp", "unet", "prior", "dps", "deft"].contains(name) else {
                    Self.fail("invalid --only value; expected mlp, unet, prior, dps or deft")
                }
                only = name
            case "--help", "-h":
                print(Self.usage)
                exit(0)
            default:
                Self.fail("unknown argument \(argument); see benchmark-foundation --help")
            }
        }
    }

    private static func positiveInteger(_ value: String?, option: String) -> Int {
        guard let value, let number = Int(value), number > 0 else {
            fail("\(option) '\(value ?? "")' is invalid; expected a positive integer")
        }
        return number
    }

    private static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("benchmark-foundation: \(message)\n".utf8))
        exit(2)
    }
}
