import Foundation
import ImageReconstruction
import Tensors

/// The benchmark's section of benchmarks/RESULTS.md, between two marker comments.
struct ResultsSection {
    static let beginMarker = "<!-- benchmark-imaging:begin -->"
    static let endMarker = "<!-- benchmark-imaging:end -->"

    let options: BenchmarkOptions
    let priorStep: PriorStepTiming
    let benchmarks: [TaskBenchmark]
    let wallSeconds: Double
    /// The one-minute load averages at the start and the end of the run, nil where unknown.
    let loadAverages: (start: String?, end: String?)

    var markdown: String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        let fineTuning = TaskBenchmark.fineTuningConfiguration(options).training
        var text = """
            ## Imaging: DEFT against the training-free baselines

            Command, from the repository root:

            ```sh
            swift build -c release --product benchmark-imaging
            .build/release/\(options.commandLine)
            ```

            Run on \(formatter.string(from: Date())) on \(ProcessInfo.processInfo.activeProcessorCount) cores in \
            \(formattedDuration(wallSeconds)), one-minute load average \(loadAverages.start ?? "unknown") at the start and \
            \(loadAverages.end ?? "unknown") at the end: the first \(options.imageCount) evaluation images per task, seed \(options.seed), \
            \(options.batchSize) images per sampler call; DEFT fine-tuned for \(fineTuning.steps) steps of \(fineTuning.batchSize) images per task.
            The shipped prior's training step (batch \(PriorStepTiming.batchSize)) took a median \
            \(String(format: "%.3f", priorStep.median)) s over \(priorStep.seconds.count) steps in this run, so its \
            \(PriorStepTiming.shippedSteps) steps would take about \(formattedDuration(priorStep.estimatedTrainingSeconds)).

            \(ReconstructionReport.columnDefinitions)

            """

        for benchmark in benchmarks {
            let share = 100 * benchmark.fineTuned.seconds / priorStep.estimatedTrainingSeconds
            text += """

                ### \(benchmark.task.rawValue): \(benchmark.task.summary)

                \(benchmark.report.markdownTable)

                DEFT's fine-tuning took \(formattedDuration(benchmark.fineTuned.seconds)), \(String(format: "%.1f", share)) % of \
                the prior's estimated training time.

                """
        }

        text += """

            ### Time to reach DPS's PSNR

            The minimum sampling time per image over the sweep's step counts at which a method's
            mean PSNR is at least DPS's at 1000 steps, with the steps in brackets.

            | task | DPS PSNR (dB) | DPS (s/image) | deft | pigdm | ddrm | reddiff |
            | --- | ---: | ---: | --- | --- | --- | --- |

            """
        for benchmark in benchmarks {
            let dps = benchmark.sweep.first { $0.method == "dps" }
            var cells = [
                benchmark.task.rawValue, benchmark.dpsPSNR.map { String(format: "%.2f", $0) } ?? "—",
                dps.map { String(format: "%.3f", $0.secondsPerImage) } ?? "—",
            ]
            for method in ["deft", "pigdm", "ddrm", "reddiff"] {
                if !benchmark.sweep.contains(where: { $0.method == method }) {
                    cells.append("not applicable")
                } else if let point = benchmark.timeToReachDPS(method) {
                    cells.append(String(format: "%.3f s (%d)", point.secondsPerImage, point.steps))
                } else {
                    cells.append("not reached")
                }
            }
            text += "| " + cells.joined(separator: " | ") + " |\n"
        }

        text += """

            ### Step sweep

            | task | method | steps | PSNR (dB) | sampling (s/image) |
            | --- | --- | ---: | ---: | ---: |

            """
        for benchmark in benchmarks {
            for point in benchmark.sweep.sorted(by: { ($0.method, $0.steps) < ($1.method, $1.steps) }) {
                text += String(
                    format: "| %@ | %@ | %d | %.2f | %.3f |\n", benchmark.task.rawValue, point.method, point.steps, point.psnr,
                    point.secondsPerImage)
            }
        }
        return text
    }

    /// Replaces the text between the markers of `url` with this section, or appends the
    /// section with its markers when the file has none, and writes the file atomically.
    func write(into url: URL) throws {
        let existing = (try? String(contentsOf: url, encoding: .utf8)) ?? "# Benchmark results\n"
        let block = "\(Self.beginMarker)\n\(markdown)\(Self.endMarker)"
        let updated: String
        if let begin = existing.range(of: Self.beginMarker), let end = existing.range(of: Self.endMarker), begin.upperBound <= end.lowerBound {
            updated = existing.replacingCharacters(in: begin.lowerBound..<end.upperBound, with: block)
        } else {
            updated = existing + (existing.hasSuffix("\n") ? "\n" : "\n\n") + block + "\n"
        }
        try writeAtomically(Data(updated.utf8), to: url)
    }
}

/// Returns the one-minute load average from /proc/loadavg, or nil where that file does not exist.
func loadAverage() -> String? {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
    return text.split(separator: " ").first.map(String.init)
}
