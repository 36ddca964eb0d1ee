import Foundation
import Tensors

/// The statistics of the demo's samples next to the exact mixture values.
///
/// A sample belongs to the right mode when its first coordinate is positive. Each mode
/// has mass ½, mean (±2, 0) and standard deviation 0.5 per coordinate; the overlap of
/// the two modes across x = 0 (mass Φ(-4) ≈ 3e-5) is negligible at these sample sizes.
struct DemoSummary {
    let samples: Tensor<Float>
    let trainingSteps: Int
    let finalLoss: Double
    let trainingSeconds: Double
    let samplingSeconds: Double
    let parameterCount: Int

    struct ModeStatistics: Codable {
        var mass: Double
        var mean: [Double]
        var standardDeviation: [Double]
    }

    var modes: [ModeStatistics] {
        let points = samples.scalars
        let count = points.count / 2
        return [-1.0, 1.0].map { side in
            var members: [(Double, Double)] = []
            for index in 0..<count where Double(points[2 * index]).sign == (side < 0 ? .minus : .plus) {
                members.append((Double(points[2 * index]), Double(points[2 * index + 1])))
            }
            let n = Double(Swift.max(members.count, 1))
            let mean = [members.reduce(0) { $0 + $1.0 } / n, members.reduce(0) { $0 + $1.1 } / n]
            let variance = [
                members.reduce(0) { $0 + ($1.0 - mean[0]) * ($1.0 - mean[0]) } / n,
                members.reduce(0) { $0 + ($1.1 - mean[1]) * ($1.1 - mean[1]) } / n,
            ]
            return ModeStatistics(mass: Double(members.count) / Double(count), mean: mean, standardDeviation: variance.map { $0.squareRoot() })
        }
    }

    var table: String {
        let exact = [
            ModeStatistics(mass: 0.5, mean: [-MixtureDemo.modeCentre, 0], standardDeviation: [0.5, 0.5]),
            ModeStatistics(mass: 0.5, mean: [MixtureDemo.modeCentre, 0], standardDeviation: [0.5, 0.5]),
        ]
        var lines = [
            "DDPM on a 2-D Gaussian mixture: \(parameterCount) parameters, \(trainingSteps) steps in "
                + String(format: "%.1f s, final loss %.4f, sampling %.1f s", trainingSeconds, finalLoss, samplingSeconds),
            "",
            "| mode | mass (exact) | mean (exact) | std (exact) |",
            "| --- | --- | --- | --- |",
        ]
        for (index, (sampled, reference)) in zip(modes, exact).enumerated() {
            lines.append(String(
                format: "| %@ | %.3f (%.3f) | (%.3f, %.3f) ((%.1f, %.1f)) | (%.3f, %.3f) ((%.1f, %.1f)) |",
                index == 0 ? "left" : "right", sampled.mass, reference.mass, sampled.mean[0], sampled.mean[1],
                reference.mean[0], reference.mean[1], sampled.standardDeviation[0], sampled.standardDeviation[1],
                reference.standardDeviation[0], reference.standardDeviation[1]))
        }
        return lines.joined(separator: "\n")
    }

    func jsonData() throws -> Data {
        struct Payload: Codable {
            var trainingSteps: Int
            var finalLoss: Double
            var trainingSeconds: Double
            var samplingSeconds: Double
            var parameters: Int
            var sampleCount: Int
            var modes: [ModeStatistics]
        }
        let payload = Payload(
            trainingSteps: trainingSteps, finalLoss: finalLoss, trainingSeconds: trainingSeconds,
            samplingSeconds: samplingSeconds, parameters: parameterCount, sampleCount: samples.shape[0], modes: modes)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(payload)
    }
}
