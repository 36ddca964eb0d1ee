import Foundation

/// A subcommand of the `deft` tool.
struct Subcommand {
    let name: String
    let summary: String
    let run: ([String]) throws -> Void
}

let subcommands: [Subcommand] = [
    Subcommand(name: "demo", summary: "the main job: fine-tune DEFT for an image task and compare it with the baselines", run: DemoCommand.run),
    Subcommand(name: "finetune", summary: "fine-tune the DEFT h-network for an imaging task on the shipped prior", run: FinetuneCommand.run),
    Subcommand(name: "evaluate", summary: "reconstruct evaluation images with DEFT and the baselines and score them", run: EvaluateCommand.run),
    Subcommand(name: "mixture", summary: "train a small DDPM model on a 2-D mixture and check its samples", run: MixtureCommand.run),
    Subcommand(name: "gaussian", summary: "closed-form posterior, score and h-transform of a Gaussian problem; DEFT on it", run: GaussianCommand.run),
    Subcommand(name: "control", summary: "fit an h-transform by a stochastic control objective and sample it", run: ControlCommand.run),
    Subcommand(name: "train-prior", summary: "train the Fashion-MNIST image prior (a DDPM U-Net)", run: TrainPriorCommand.run),
    Subcommand(name: "train-classifier", summary: "train the Fashion-MNIST classifier that scores reconstructions", run: TrainClassifierCommand.run),
    Subcommand(name: "sample", summary: "draw images from a trained prior with DDPM, DDIM, the reverse SDE or the ODE", run: SampleCommand.run),
    Subcommand(name: "export-prior", summary: "write a prior file from a training checkpoint and compare its weights", run: ExportPriorCommand.run),
    Subcommand(name: "imaging-notebook", summary: "make the figures and numbers of notebooks-md/imaging.md", run: ImagingNotebookCommand.run),
    Subcommand(name: "sde-notebook", summary: "write notebooks-md/sde-solvers-and-gradients.md: solver orders, Brownian tree, gradients", run: SDENotebookCommand.run),
    Subcommand(name: "reward-notebook", summary: "write notebooks-md/reward-tilting.md: sampling exp(r) p and ln Z against closed forms", run: RewardNotebookCommand.run),
    Subcommand(name: "reconstruction-notebook", summary: "write notebooks-md/deft-on-images.md: DEFT fine-tuned for inpainting against the baselines", run: ReconstructionNotebookCommand.run),
]

func printUsage() {
    var text = """
        deft: conditioning pretrained diffusion models by learning the generalised h-transform.

        usage: deft <command> [options]

        commands:

        """
    // padding(toLength:) truncates, so the column is as wide as the longest name plus two.
    let width = subcommands.map(\.name.count).max()! + 2
    for command in subcommands {
        text += "  \(command.name.padding(toLength: width, withPad: " ", startingAt: 0))\(command.summary)\n"
    }
    text += "\nRun 'deft <command> --help' for the options of a command.\n"
    print(text, terminator: "")
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let name = arguments.first, name != "--help", name != "-h" else {
    printUsage()
    exit(arguments.isEmpty ? 2 : 0)
}

do {
    guard let command = subcommands.first(where: { $0.name == name }) else {
        throw CommandLineError.unknownCommand(name)
    }
    try command.run(Array(arguments.dropFirst()))
} catch {
    FileHandle.standardError.write(Data("deft: error: \(error)\n".utf8))
    exit(1)
}
