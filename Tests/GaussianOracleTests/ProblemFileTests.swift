import Foundation
import GaussianOracle
import XCTest

/// Parsing and validation of the problem files and queries of `deft gaussian`.
final class ProblemFileTests: XCTestCase {
    /// A valid two-dimensional problem; cases below replace one field at a time.
    let valid: [String: Any] = [
        "mean": [0.5, -1.0],
        "covariance": [[1.0, 0.3], [0.3, 0.5]],
        "operator": [[1.0, 2.0]],
        "noise_std": 0.2,
        "observation": [0.7],
        "schedule": ["kind": "vp-linear", "beta_min": 0.1, "beta_max": 20, "T": 1],
        "seed": 3,
        "samples": 100,
    ]

    func parse(_ object: [String: Any]) throws -> GaussianProblem {
        try GaussianProblem(jsonData: try JSONSerialization.data(withJSONObject: object))
    }

    func assertInvalid(_ object: [String: Any], field: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try parse(object), file: file, line: line) { error in
            XCTAssertEqual((error as? GaussianProblemError)?.field, field, "\(error)", file: file, line: line)
        }
    }

    func replacing(_ key: String, with value: Any?) -> [String: Any] {
        var object = valid
        object[key] = value
        return object
    }

    func testExampleFilesParse() throws {
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples")
        let continuous = try GaussianProblem(contentsOf: examples.appendingPathComponent("gaussian-problem.json"))
        XCTAssertEqual(continuous.dimension, 3)
        XCTAssertEqual(continuous.observationDimension, 2)
        XCTAssertEqual(continuous.schedule, .vpLinear(betaMin: 0.1, betaMax: 20, horizon: 1))
        XCTAssertEqual(continuous.seed, 42)

        let discrete = try GaussianProblem(contentsOf: examples.appendingPathComponent("gaussian-problem-ddpm.json"))
        XCTAssertEqual(discrete.schedule, .ddpm(steps: 1000, betaStart: 1e-4, betaEnd: 0.02))
    }

    func testValidProblemFields() throws {
        let problem = try parse(valid)
        XCTAssertEqual(problem.mean, [0.5, -1.0])
        XCTAssertEqual(problem.covariance, Matrix([[1.0, 0.3], [0.3, 0.5]]))
        XCTAssertEqual(problem.operatorMatrix, Matrix([[1.0, 2.0]]))
        XCTAssertEqual(problem.noiseStd, 0.2)
        XCTAssertEqual(problem.observation, [0.7])
        XCTAssertEqual(problem.seed, 3)
        XCTAssertEqual(problem.samples, 100)
    }

    func testOptionalFieldsDefault() throws {
        var object = valid
        object["seed"] = nil
        object["samples"] = nil
        let problem = try parse(object)
        XCTAssertEqual(problem.seed, GaussianProblem.defaultSeed)
        XCTAssertEqual(problem.samples, GaussianProblem.defaultSamples)
    }

    func testInvalidFieldsAreNamed() {
        assertInvalid(replacing("mean", with: nil), field: "mean")
        assertInvalid(replacing("mean", with: []), field: "mean")
        assertInvalid(replacing("mean", with: [1.0, "a"]), field: "mean[1]")
        assertInvalid(replacing("mean", with: [true, 1.0]), field: "mean[0]")
        assertInvalid(replacing("covariance", with: [[1.0, 0.3]]), field: "covariance")
        assertInvalid(replacing("covariance", with: [[1.0, 0.3], [0.3]]), field: "covariance[1]")
        assertInvalid(replacing("covariance", with: [[1.0, 0.3], [0.2, 0.5]]), field: "covariance")
        assertInvalid(replacing("covariance", with: [[1.0, 2.0], [2.0, 1.0]]), field: "covariance")
        assertInvalid(replacing("operator", with: [[1.0, 2.0, 3.0]]), field: "operator[0]")
        assertInvalid(replacing("operator", with: "A"), field: "operator")
        assertInvalid(replacing("noise_std", with: 0), field: "noise_std")
        assertInvalid(replacing("noise_std", with: "0.1"), field: "noise_std")
        assertInvalid(replacing("observation", with: [0.7, 0.1]), field: "observation")
        assertInvalid(replacing("seed", with: -1), field: "seed")
        assertInvalid(replacing("samples", with: 2.5), field: "samples")
        assertInvalid(replacing("sample", with: 10), field: "sample")
        assertInvalid(replacing("schedule", with: nil), field: "schedule")
        assertInvalid(replacing("schedule", with: ["kind": "cosine"]), field: "schedule.kind")
        assertInvalid(replacing("schedule", with: ["kind": "vp-linear", "beta_min": 0.1, "beta_max": 20]), field: "schedule.T")
        assertInvalid(replacing("schedule", with: ["kind": "vp-linear", "beta_min": 1, "beta_max": 0.5, "T": 1]), field: "schedule.beta_max")
        assertInvalid(replacing("schedule", with: ["kind": "vp-linear", "beta_min": 0.1, "beta_max": 20, "T": 1, "N": 3]), field: "schedule.N")
        assertInvalid(replacing("schedule", with: ["kind": "ddpm", "steps": 1.5, "beta_start": 1e-4, "beta_end": 0.02]), field: "schedule.steps")
        assertInvalid(replacing("schedule", with: ["kind": "ddpm", "steps": 100, "beta_start": 0, "beta_end": 0.02]), field: "schedule.beta_start")
        assertInvalid(replacing("schedule", with: ["kind": "ddpm", "steps": 100, "beta_start": 1e-4, "beta_end": 1]), field: "schedule.beta_end")
    }

    func testMalformedJSONIsRejected() {
        XCTAssertThrowsError(try GaussianProblem(jsonData: Data("{\"mean\": [1,".utf8))) { error in
            XCTAssertEqual((error as? GaussianProblemError)?.field, "(file)")
        }
        XCTAssertThrowsError(try GaussianProblem(jsonData: Data("[1, 2]".utf8))) { error in
            XCTAssertEqual((error as? GaussianProblemError)?.field, "(file)")
        }
    }

    func testQueriesParseAndValidate() throws {
        let continuous = try parse(valid)
        let query = try continuous.parseQuery("0.5, 1, -2")
        XCTAssertEqual(query.t, 0.5)
        XCTAssertEqual(query.x, [1, -2])
        XCTAssertEqual(query.alphaBar, VPSDEAlphaBar.linear(t: 0.5), accuracy: 1e-15)
        for text in ["0.5,1", "0.5,1,2,3", "1.5,0,0", "-0.1,0,0", "0.5,a,0", "0.5,nan,0"] {
            XCTAssertThrowsError(try continuous.parseQuery(text), text) { error in
                XCTAssertEqual((error as? GaussianProblemError)?.field, "query")
            }
        }

        var object = valid
        object["schedule"] = ["kind": "ddpm", "steps": 10, "beta_start": 0.1, "beta_end": 0.2]
        let discrete = try parse(object)
        XCTAssertEqual(try discrete.parseQuery("0,0,0").alphaBar, 1)
        // ᾱ₂ = (1 − β₁)(1 − β₂) with β evenly spaced from 0.1 to 0.2 over 10 steps.
        XCTAssertEqual(try discrete.parseQuery("2,0,0").alphaBar, 0.9 * (1 - (0.1 + 0.1 / 9)), accuracy: 1e-15)
        for text in ["2.5,0,0", "11,0,0", "-1,0,0"] {
            XCTAssertThrowsError(try discrete.parseQuery(text), text)
        }
    }

    func testReportJSONHasStableKeys() throws {
        let problem = try parse(valid)
        let report = GaussianProblemReport(exact: problem, queries: [try problem.parseQuery("0.3,0,0")])
        let data = try report.jsonData()
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(Set(object.keys), ["posterior_mean", "posterior_covariance", "log_evidence", "queries", "method"])
        let query = try XCTUnwrap((object["queries"] as? [[String: Any]])?.first)
        XCTAssertEqual(Set(query.keys), ["t", "alpha_bar", "x", "score", "h"])
        XCTAssertEqual(data, try report.jsonData(), "encoding twice gives the same bytes")
        // JSONDecoder reads the shortest round-trip representation back exactly.
        struct Evidence: Decodable { var logEvidence: Double }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        XCTAssertEqual(try decoder.decode(Evidence.self, from: data).logEvidence, problem.oracle.logNormalizer)
    }
}

/// ᾱ(t) = exp(−(0.1 t + (20 − 0.1) t² / 2)) for β linear from 0.1 to 20 on [0, 1].
enum VPSDEAlphaBar {
    static func linear(t: Double) -> Double {
        Foundation.exp(-(0.1 * t + 19.9 * t * t / 2))
    }
}
