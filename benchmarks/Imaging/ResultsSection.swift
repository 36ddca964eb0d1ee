import Foundation
import ImageReconstruction
import Tensors

/// The benchmark's section of benchmarks/RESULTS.md, between two marker comments.
struct ResultsSection {
    static let beginMarker = "<!-- benchmark-imaging:begin -->"
    static let endMarker = "<!-- benchmark-imaging:end -->"

    let options: BenchmarkOptions
    let summaries: [JournalSummary]

    var markdown: String {
        let fineTuning = TaskPlan.fineTuningConfiguration(options).training
        var sessions: [String: EvaluationJournal.Session] = [:]
        for session in summaries.flatMap(\.sessions) {
            sessions[session.started] = session
        }
        let commits = Set(sessions.values.map { $0.commit ?? "unknown" })
        let sessionLines = sessions.values.sorted { $0.started < $1.started }.map { session in
            String(
                format: "- %@, commit %@: %@, %d cores, one-minute load average %@ at the start; prior training step (batch %d) %.3f s",
                session.started, session.commit ?? "unknown", session.processor, session.cores, session.loadAverage ?? "unknown",
                PriorStepTiming.batchSize, session.priorStepSeconds)
        }
        var text = """
            ## Imaging: DEFT against the training-free baselines

            Command, from the repository root, repeated until every batch has run (each run
            resumes from the journals in `\(options.journalDirectory)`, and may add
            `--time-limit MINUTES` to stop in time):

            ```sh
            swift build -c release --product benchmark-imaging
            .build/release/\(options.commandLine)
            ```

            Seed \(options.seed), \(options.batchSize) images per sampler call, DEFT fine-tuned for \(fineTuning.steps) steps of \
            \(fineTuning.batchSize) images per task. Each table is over the leading evaluation images that every method has \
            finished; the evaluation set is the first \(options.imageCount) test images. All methods of a task run each batch \
            in one session unless a run stopped in the middle of it, and such batches are listed under the task's table. \
            The sessions behind these tables\(commits.count > 1 ? ", which ran different commits" : ""):

            \(sessionLines.joined(separator: "\n"))

            \(ReconstructionReport.columnDefinitions)

            """

        for summary in summaries {
            let priorTraining = PriorStepTiming.estimatedTrainingSeconds(stepSeconds: summary.fineTuningSession.priorStepSeconds)
            let share = 100 * summary.fineTuning.seconds / priorTraining
            text += """

                ### \(summary.task.rawValue): \(summary.task.summary)

                The first \(summary.report.imageCount) of \(options.imageCount) evaluation images.

                \(summary.report.markdownTable)

                DEFT's fine-tuning took \(formattedDuration(summary.fineTuning.seconds)), calibration of the read-out \
                included, \(String(format: "%.1f", share)) % of the prior's estimated training time (\(PriorStepTiming.shippedSteps) \
                steps at the step time measured in the same session, \(summary.fineTuningSession.started), \
                \(formattedDuration(priorTraining))).
                \(summary.report.groundTruthSentence.map { "\n" + $0 + "\n" } ?? "")\(summary.pairedComparison.map { "\n" + $0.sentence + "\n" } ?? "")
                """
            for split in summary.splitBatches {
                let parts = split.sessions.sorted { $0.key < $1.key }.map { "\($0.key) in \($0.value)" }
                text += "Batch \(split.batch + 1) ran in more than one session: \(parts.joined(separator: ", ")).\n"
            }
        }

        text += """

            ### Time to reach DPS's PSNR

            The minimum sampling time per image over the sweep's step counts at which a method's
            mean PSNR is at least DPS's at 1000 steps, with the steps in brackets, over the
            leading images that every step count has finished.

            | task | images | DPS PSNR (dB) | DPS (s/image) | deft | pigdm | ddrm | reddiff |
            | --- | ---: | ---: | ---: | --- | --- | --- | --- |

            """
        for summary in summaries {
            let dps = summary.sweep.first { $0.method == "dps" }
            var cells = [
                summary.task.rawValue, String(summary.sweepImageCount), summary.dpsPSNR.map { String(format: "%.2f", $0) } ?? "—",
                dps.map { String(format: "%.3f", $0.secondsPerImage) } ?? "—",
            ]
            for method in ["deft", "pigdm", "ddrm", "reddiff"] {
                let applies = summary.report.results.contains { $0.name == method && $0.isApplicable }
                if !applies {
                    cells.append("not applicable")
                } else if !summary.sweep.contains(where: { $0.method == method }) {
                    cells.append("not run")
                } else if let point = summary.timeToReachDPS(method) {
                    cells.append(String(format: "%.3f s (%d)", point.secondsPerImage, point.steps))
                } else {
                    cells.append("not reached")
                }
            }
            text += "| " + cells.joined(separator: " | ") + " |\n"
        }

        text += """

            ### Step sweep

            | task | images | method | steps | PSNR (dB) | sampling (s/image) |
            | --- | ---: | --- | ---: | ---: | ---: |

            """
        for summary in summaries {
            for point in summary.sweep.sorted(by: { ($0.method, $0.steps) < ($1.method, $1.steps) }) {
                text += String(
                    format: "| %@ | %d | %@ | %d | %.2f | %.3f |\n", summary.task.rawValue, summary.sweepImageCount, point.method,
                    point.steps, point.psnr,
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
