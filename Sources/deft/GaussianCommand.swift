import Foundation
import GaussianOracle
import Tensors

/// `deft gaussian`: the closed-form posterior, evidence, scores and h-transforms of a
/// Gaussian inverse problem, and optionally DEFT score-matching fine-tuning checked
/// against them.
enum GaussianCommand {
    static let help = """
        usage: deft gaussian --problem FILE.json [options]
               deft gaussian --notebook DIR [--quick]

        Reads a Gaussian inverse problem (data N(m, S), observation y = A x0 + noise_std ξ,
        a VP noise schedule) and prints the posterior p(x0 | y), the log-evidence ln p(y)
        and, at each query, the score ∇ ln p_t(x) and the h-transform h*_t(x) = ∇ ln p_t(y | x),
        both in score units. With --method dsm it also trains the DEFT h-transform network
        by score matching against the exact ε-model, samples the posterior with it, and
        reports the samples' moments, the W2 distance of their fitted Gaussian to the
        posterior and the relative L2 error of the learned h.

        Problem file keys: mean, covariance, operator (rows = observation dimension),
        noise_std, observation, schedule ({"kind": "vp-linear", "beta_min", "beta_max", "T"}
        or {"kind": "ddpm", "steps", "beta_start", "beta_end"}), and optionally seed
        (default 0) and samples (default 10000). See examples/gaussian-problem.json.

        options:
          --problem FILE      the problem file (JSON)
          --method M          exact (default) or dsm
          --query T,X1,...    a time and a state; repeatable. For vp-linear T is a time in
                              [0, T]; for ddpm an integer step k from 0 to N (k = 0 is the data)
          --training-steps N  DEFT training steps with --method dsm (default 4000)
          --batch-size N      DEFT training batch size (default 256)
          --json              print the results as JSON on standard output
          --notebook DIR      rerun the Gaussian theorem checks and write
                              DIR/gaussian-theorem-checks.md with its figures
          --quick             with --notebook: 20 times fewer paths and training
                              steps, to check the generator in about a minute
          --quiet             no progress on standard error
          --help              show this text
        """

    static func run(_ arguments: [String]) throws {
        if arguments.contains("--help") {
            print(help)
            return
        }
        let options = try CommandLineOptions(
            command: "gaussian", arguments: arguments,
            valued: ["problem", "method", "query", "training-steps", "batch-size", "notebook"], boolean: ["json", "quiet", "quick"])
        Log.isQuiet = options.flag("quiet")

        if let folder = options.string("notebook") {
            try GaussianNotebook(folder: URL(fileURLWithPath: folder), isQuick: options.flag("quick")).write()
            return
        }
        guard let path = options.string("problem") else {
            throw CommandLineError.missingValue(command: "gaussian", option: "problem")
        }
        let method = options.string("method") ?? "exact"
        guard method == "exact" || method == "dsm" else {
            throw CommandLineError.invalidValue(command: "gaussian", option: "method", value: method, expected: "exact or dsm")
        }
        let settings = GaussianScoreMatchingRun.Settings(
            trainingSteps: try options.int("training-steps", default: 4000, range: 1...10_000_000),
            batchSize: try options.int("batch-size", default: 256, range: 1...1_000_000))

        let problem = try GaussianProblem(contentsOf: URL(fileURLWithPath: path))
        let queries = try options.strings("query").map { try problem.parseQuery($0) }
        var report = GaussianProblemReport(exact: problem, queries: queries)

        if method == "dsm" {
            let result = try GaussianScoreMatchingRun(problem: problem, settings: settings).run(queries: queries)
            Log.info(String(format: "trained in %.1f s", result.trainingSeconds))
            let moments = SampleMoments(result.samples)
            report.method = "dsm"
            report.sampleMean = moments.mean
            report.sampleCovariance = moments.covariance.rowArrays
            report.w2ToPosterior = try moments.fittedNormal().wassersteinDistance(to: problem.oracle.target)
            report.hRelativeError = result.hRelativeError
            for (index, learned) in result.learnedQueries.enumerated() {
                report.queries[index].hLearned = learned
            }
        }

        if options.flag("json") {
            print(String(decoding: try report.jsonData(), as: UTF8.self))
        } else {
            print(report.text)
        }
    }
}
