// swift-tools-version:6.0
import PackageDescription

// Release builds are the supported configuration: numeric Swift code runs 10 to 17 times
// slower in debug builds, so the tests and benchmarks are run with `-c release`.
let package = Package(
    name: "DEFT",
    products: [
        .library(name: "Tensors", targets: ["Tensors"]),
        .library(name: "NeuralNetworks", targets: ["NeuralNetworks"]),
        .library(name: "SDECore", targets: ["SDECore"]),
        .library(name: "ControlObjectives", targets: ["ControlObjectives"]),
        .library(name: "DEFTScoreMatching", targets: ["DEFTScoreMatching"]),
        .library(name: "Samplers", targets: ["Samplers"]),
        .library(name: "GaussianOracle", targets: ["GaussianOracle"]),
        .library(name: "Imaging", targets: ["Imaging"]),
        .library(name: "ImageReconstruction", targets: ["ImageReconstruction"]),
        .executable(name: "deft", targets: ["deft"]),
    ],
    targets: [
        // System libraries from Debian: scripts/setup installs them.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas"),
        .systemLibrary(name: "CGSL", pkgConfig: "gsl"),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng"),

        // Arrays, reverse-mode differentiation, random numbers and weight files.
        .target(name: "Tensors", dependencies: ["CBLAS"]),
        // Layers, the U-Net, optimisers and learning-rate schedules.
        .target(name: "NeuralNetworks", dependencies: ["Tensors"]),

        .target(name: "SDECore", dependencies: ["Tensors", "NeuralNetworks"]),
        .target(name: "ControlObjectives", dependencies: ["SDECore", "NeuralNetworks"]),
        .target(name: "DEFTScoreMatching", dependencies: ["SDECore"]),
        // Closed-form Gaussian data, observations, h-transforms and posteriors: the test oracle.
        .target(name: "GaussianOracle", dependencies: ["SDECore", "CBLAS"]),
        .target(name: "Samplers", dependencies: ["SDECore"]),
        // Image operators and likelihoods, metrics, Fashion-MNIST and PNG grids, the image
        // prior's training and the classifier.
        .target(name: "Imaging", dependencies: ["Tensors", "NeuralNetworks", "SDECore", "CPNG", "CGSL"]),
        // DEFT, the baselines and A⁺y on the imaging tasks: fine-tuning, scoring, tables and
        // figures, shared by the tool and the imaging benchmark.
        .target(name: "ImageReconstruction", dependencies: ["Tensors", "SDECore", "DEFTScoreMatching", "Samplers", "Imaging"]),

        .executableTarget(
            name: "deft",
            dependencies: [
                "Tensors", "NeuralNetworks", "SDECore", "ControlObjectives", "DEFTScoreMatching", "Samplers",
                "GaussianOracle", "Imaging", "ImageReconstruction",
            ]
        ),

        // Benchmarks: each prints its figures and never passes or fails on a clock.
        .executableTarget(
            name: "benchmark-foundation",
            dependencies: ["Tensors", "NeuralNetworks", "SDECore", "DEFTScoreMatching", "Samplers", "Imaging"],
            path: "benchmarks/Foundation"),
        .executableTarget(
            name: "benchmark-sde", dependencies: ["Tensors", "NeuralNetworks", "SDECore", "ControlObjectives"],
            path: "benchmarks/SDE"),
        .executableTarget(
            name: "benchmark-imaging", dependencies: ["Tensors", "SDECore", "DEFTScoreMatching", "Imaging", "ImageReconstruction"],
            path: "benchmarks/Imaging"),

        .testTarget(name: "TensorsTests", dependencies: ["Tensors"], exclude: ["Fixtures"]),
        .testTarget(name: "NeuralNetworksTests", dependencies: ["NeuralNetworks"]),
        .testTarget(name: "SDECoreTests", dependencies: ["SDECore"]),
        .testTarget(name: "GaussianOracleTests", dependencies: ["GaussianOracle", "DEFTScoreMatching"]),
        .testTarget(name: "ControlObjectivesTests", dependencies: ["ControlObjectives", "GaussianOracle"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging"], exclude: ["Fixtures"]),
        .testTarget(name: "SamplersTests", dependencies: ["Samplers", "GaussianOracle", "Imaging"]),
        .testTarget(name: "ImageReconstructionTests", dependencies: ["ImageReconstruction", "Imaging", "Tensors"]),
        // Runs the built `deft` executable; `swift build --build-tests` builds it too.
        .testTarget(name: "CommandLineTests", dependencies: ["Tensors", "NeuralNetworks", "Imaging"]),
    ],
    // Swift 5 mode: kernels hand raw buffer pointers to concurrent workers, which the
    // Swift 6 checker rejects even where each worker writes a disjoint range.
    swiftLanguageModes: [.v5]
)
