import Foundation
import SDECore

/// An invalid Gaussian problem file or query: names the field and the rule it breaks.
public struct GaussianProblemError: Error, CustomStringConvertible, Equatable {
    /// The JSON key (or `query`) at fault.
    public let field: String
    public let reason: String

    public init(field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "invalid field '\(field)': \(reason)" }
}

/// The noise schedule of a problem file.
public enum GaussianScheduleSpecification: Equatable, Sendable {
    /// β(t) = βmin + (βmax − βmin) t / T on [0, T] and ᾱ(t) = exp(−∫₀ᵗ β); query times are
    /// continuous times t ∈ [0, T].
    case vpLinear(betaMin: Double, betaMax: Double, horizon: Double)
    /// βⱼ evenly spaced from `betaStart` (j = 1) to `betaEnd` (j = N) and
    /// ᾱ_k = ∏_{j≤k} (1 − βⱼ) exactly; query times are integer steps k ∈ {0, …, N}, with
    /// ᾱ₀ = 1 for the data itself.
    case ddpm(steps: Int, betaStart: Double, betaEnd: Double)

    /// Returns ᾱ at a query time, or throws when the time is outside the schedule.
    public func alphaBar(at t: Double) throws -> Double {
        switch self {
        case let .vpLinear(betaMin, betaMax, horizon):
            guard t >= 0 && t <= horizon else {
                throw GaussianProblemError(field: "query", "time \(t) lies outside the schedule's [0, \(horizon)]")
            }
            return VPSDE<Double>(schedule: .linear(betaMin: betaMin, betaMax: betaMax), horizon: horizon).alphaBar(t)
        case let .ddpm(steps, betaStart, betaEnd):
            guard t == t.rounded(), t >= 0, t <= Double(steps) else {
                throw GaussianProblemError(field: "query", "time \(t) must be an integer step from 0 to \(steps)")
            }
            let k = Int(t)
            return k == 0 ? 1 : DDPMSchedule.linear(betaStart: betaStart, betaEnd: betaEnd, count: steps).alphaBars[k - 1]
        }
    }
}

/// A Gaussian inverse problem read from a JSON file: data N(m, S), the observation
/// y = A x₀ + σ_y ξ of one y, a noise schedule, and the seed and sample count of the
/// stochastic methods.
///
/// Keys: `mean` (d numbers), `covariance` (d rows of d numbers, symmetric positive
/// definite), `operator` (k rows of d numbers, k ≥ 1), `noise_std` (σ_y > 0),
/// `observation` (k numbers), `schedule` (an object, see `GaussianScheduleSpecification`:
/// `{"kind": "vp-linear", "beta_min", "beta_max", "T"}` or
/// `{"kind": "ddpm", "steps", "beta_start", "beta_end"}`), and optionally `seed`
/// (integer ≥ 0, default 0) and `samples` (integer ≥ 2, default 10000). Unknown keys
/// are rejected, so a misspelt key cannot be silently ignored.
public struct GaussianProblem: Sendable {
    public let mean: [Double]
    public let covariance: Matrix
    public let operatorMatrix: Matrix
    public let noiseStd: Double
    public let observation: [Double]
    public let schedule: GaussianScheduleSpecification
    public let seed: UInt64
    public let samples: Int

    public static let defaultSeed: UInt64 = 0
    public static let defaultSamples = 10_000

    public init(
        mean: [Double], covariance: Matrix, operatorMatrix: Matrix, noiseStd: Double, observation: [Double],
        schedule: GaussianScheduleSpecification, seed: UInt64 = defaultSeed, samples: Int = defaultSamples
    ) {
        self.mean = mean
        self.covariance = covariance
        self.operatorMatrix = operatorMatrix
        self.noiseStd = noiseStd
        self.observation = observation
        self.schedule = schedule
        self.seed = seed
        self.samples = samples
    }

    /// Parses and validates a problem file's contents.
    ///
    /// - Throws: `GaussianProblemError` naming the first invalid field.
    public init(jsonData: Data) throws {
        // JSONDecoder reads numbers correctly rounded; JSONSerialization in
        // swift-corelibs-foundation (Swift 6.3) can be off by one ulp.
        let root: ProblemJSON
        do {
            root = try JSONDecoder().decode(ProblemJSON.self, from: jsonData)
        } catch {
            throw GaussianProblemError(field: "(file)", "not valid JSON: \(error)")
        }
        guard case let .object(object) = root else {
            throw GaussianProblemError(field: "(file)", "the top level must be a JSON object")
        }
        let known: Set<String> = ["mean", "covariance", "operator", "noise_std", "observation", "schedule", "seed", "samples"]
        if let unknown = object.keys.filter({ !known.contains($0) }).sorted().first {
            throw GaussianProblemError(field: unknown, "unknown key; the keys are \(known.sorted().joined(separator: ", "))")
        }

        let mean = try Self.vector(object, "mean")
        let d = mean.count
        let covariance = try Self.matrix(object, "covariance", columns: d)
        guard covariance.rows == d else {
            throw GaussianProblemError(field: "covariance", "has \(covariance.rows) rows; the mean has \(d) entries")
        }
        let asymmetry = (covariance - covariance.transposed).maximumAbsoluteEntry
        guard asymmetry <= 1e-9 * Swift.max(1, covariance.maximumAbsoluteEntry) else {
            throw GaussianProblemError(field: "covariance", "is not symmetric (largest |S − Sᵀ| entry \(asymmetry))")
        }
        guard (try? covariance.choleskyFactor()) != nil else {
            throw GaussianProblemError(field: "covariance", "is not positive definite")
        }

        let operatorMatrix = try Self.matrix(object, "operator", columns: d)
        let noiseStd = try Self.number(object, "noise_std")
        guard noiseStd > 0 else {
            throw GaussianProblemError(field: "noise_std", "must be positive, got \(noiseStd)")
        }
        let observation = try Self.vector(object, "observation")
        guard observation.count == operatorMatrix.rows else {
            throw GaussianProblemError(
                field: "observation", "has \(observation.count) entries; the operator has \(operatorMatrix.rows) rows")
        }

        let schedule = try Self.schedule(object)
        let seed = try object["seed"] == nil ? Int(Self.defaultSeed) : Self.integer(object, "seed", minimum: 0)
        let samples = try object["samples"] == nil ? Self.defaultSamples : Self.integer(object, "samples", minimum: 2)
        self.init(
            mean: mean, covariance: covariance, operatorMatrix: operatorMatrix, noiseStd: noiseStd,
            observation: observation, schedule: schedule, seed: UInt64(seed), samples: samples)
    }

    /// Reads and validates a problem file.
    public init(contentsOf url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw GaussianProblemError(field: "(file)", "cannot read \(url.path): \(error.localizedDescription)")
        }
        try self.init(jsonData: data)
    }

    public var dimension: Int { mean.count }
    public var observationDimension: Int { operatorMatrix.rows }

    public var prior: MultivariateNormal {
        try! MultivariateNormal(mean: mean, covariance: covariance)
    }

    public func observationModel<Scalar>(_ type: Scalar.Type = Scalar.self) -> LinearGaussianObservation<Scalar> {
        LinearGaussianObservation(operator: operatorMatrix, noiseStandardDeviation: noiseStd)
    }

    /// The oracle for the file's observation.
    public var oracle: GaussianDiffusionOracle {
        GaussianDiffusionOracle(
            prior: prior,
            tilt: .linearObservation(operator: operatorMatrix, noiseStandardDeviation: noiseStd, observation: observation))
    }

    /// Parses a query `T,X1,…,Xd` into its time, noise level and state.
    ///
    /// - Throws: `GaussianProblemError` for field `query` when the count, a number or the
    ///   time is invalid.
    public func parseQuery(_ text: String) throws -> (t: Double, alphaBar: Double, x: [Double]) {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == dimension + 1 else {
            throw GaussianProblemError(
                field: "query", "'\(text)' has \(parts.count) numbers; expected the time and \(dimension) coordinates")
        }
        let numbers = try parts.map { part -> Double in
            guard let value = Double(part), value.isFinite else {
                throw GaussianProblemError(field: "query", "'\(part)' in '\(text)' is not a finite number")
            }
            return value
        }
        let t = numbers[0]
        return (t, try schedule.alphaBar(at: t), Array(numbers.dropFirst()))
    }

    // MARK: - Field readers

    private static func number(_ object: [String: ProblemJSON], _ key: String, in parent: String? = nil) throws -> Double {
        let field = parent.map { "\($0).\(key)" } ?? key
        guard let raw = object[key] else {
            throw GaussianProblemError(field: field, "is missing")
        }
        return try number(raw, field: field)
    }

    private static func number(_ raw: ProblemJSON, field: String) throws -> Double {
        guard case let .number(double) = raw else {
            throw GaussianProblemError(field: field, "must be a number")
        }
        guard double.isFinite else {
            throw GaussianProblemError(field: field, "must be finite")
        }
        return double
    }

    private static func integer(_ object: [String: ProblemJSON], _ key: String, minimum: Int, in parent: String? = nil) throws -> Int {
        let field = parent.map { "\($0).\(key)" } ?? key
        let value = try number(object, key, in: parent)
        guard value == value.rounded(), value >= Double(minimum), value <= Double(Int32.max) else {
            throw GaussianProblemError(field: field, "must be an integer from \(minimum) to \(Int32.max), got \(value)")
        }
        return Int(value)
    }

    private static func vector(_ object: [String: ProblemJSON], _ key: String) throws -> [Double] {
        guard let raw = object[key] else {
            throw GaussianProblemError(field: key, "is missing")
        }
        guard case let .array(array) = raw, !array.isEmpty else {
            throw GaussianProblemError(field: key, "must be a non-empty array of numbers")
        }
        return try array.enumerated().map { index, entry in try number(entry, field: "\(key)[\(index)]") }
    }

    private static func matrix(_ object: [String: ProblemJSON], _ key: String, columns: Int) throws -> Matrix {
        guard let raw = object[key] else {
            throw GaussianProblemError(field: key, "is missing")
        }
        guard case let .array(rows) = raw, !rows.isEmpty else {
            throw GaussianProblemError(field: key, "must be a non-empty array of rows")
        }
        var elements: [Double] = []
        for (index, row) in rows.enumerated() {
            guard case let .array(entries) = row, entries.count == columns else {
                throw GaussianProblemError(field: "\(key)[\(index)]", "must be an array of \(columns) numbers, one per coordinate of the mean")
            }
            for (column, entry) in entries.enumerated() {
                elements.append(try number(entry, field: "\(key)[\(index)][\(column)]"))
            }
        }
        return Matrix(rows: rows.count, columns: columns, elements: elements)
    }

    private static func schedule(_ object: [String: ProblemJSON]) throws -> GaussianScheduleSpecification {
        guard let raw = object["schedule"] else {
            throw GaussianProblemError(field: "schedule", "is missing")
        }
        guard case let .object(schedule) = raw else {
            throw GaussianProblemError(field: "schedule", "must be an object with a \"kind\"")
        }
        guard case let .string(kind) = schedule["kind"] else {
            throw GaussianProblemError(field: "schedule.kind", "must be \"vp-linear\" or \"ddpm\"")
        }
        switch kind {
        case "vp-linear":
            try rejectUnknown(schedule, known: ["kind", "beta_min", "beta_max", "T"])
            let betaMin = try number(schedule, "beta_min", in: "schedule")
            let betaMax = try number(schedule, "beta_max", in: "schedule")
            let horizon = try number(schedule, "T", in: "schedule")
            guard betaMin >= 0 else { throw GaussianProblemError(field: "schedule.beta_min", "must be non-negative, got \(betaMin)") }
            guard betaMax >= betaMin, betaMax > 0 else {
                throw GaussianProblemError(field: "schedule.beta_max", "must be positive and at least beta_min, got \(betaMax)")
            }
            guard horizon > 0 else { throw GaussianProblemError(field: "schedule.T", "must be positive, got \(horizon)") }
            return .vpLinear(betaMin: betaMin, betaMax: betaMax, horizon: horizon)
        case "ddpm":
            try rejectUnknown(schedule, known: ["kind", "steps", "beta_start", "beta_end"])
            let steps = try integer(schedule, "steps", minimum: 2, in: "schedule")
            let betaStart = try number(schedule, "beta_start", in: "schedule")
            let betaEnd = try number(schedule, "beta_end", in: "schedule")
            guard betaStart > 0 && betaStart < 1 else {
                throw GaussianProblemError(field: "schedule.beta_start", "must lie in (0, 1), got \(betaStart)")
            }
            guard betaEnd >= betaStart && betaEnd < 1 else {
                throw GaussianProblemError(field: "schedule.beta_end", "must lie in [beta_start, 1), got \(betaEnd)")
            }
            return .ddpm(steps: steps, betaStart: betaStart, betaEnd: betaEnd)
        default:
            throw GaussianProblemError(field: "schedule.kind", "must be \"vp-linear\" or \"ddpm\"")
        }
    }

    private static func rejectUnknown(_ object: [String: ProblemJSON], known: Set<String>) throws {
        if let unknown = object.keys.filter({ !known.contains($0) }).sorted().first {
            throw GaussianProblemError(field: "schedule.\(unknown)", "unknown key; the keys are \(known.sorted().joined(separator: ", "))")
        }
    }
}

/// A JSON value, decoded with `JSONDecoder` so that numbers are read exactly and
/// booleans are never taken for numbers.
enum ProblemJSON: Decodable {
    case object([String: ProblemJSON])
    case array([ProblemJSON])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([ProblemJSON].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: ProblemJSON].self))
        }
    }
}
