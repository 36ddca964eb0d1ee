import Foundation
import SDECore
import Tensors
import XCTest

/// Drift, diffusion and Itô correction of every SDE type against central finite
/// differences in the state and the parameters (relative error below 1e-6).
final class SDEGradientTests: XCTestCase {
    let tolerance = 1e-6

    func assertDifferentiable<SDE: StochasticDifferentialEquation>(
        _ sde: SDE, stateShape: [Int] = [3, 2], file: StaticString = #filePath, line: UInt = #line
    ) where SDE.Scalar == Double {
        let x = fixedTensor(stateShape, seed: 2) + 1.5
        let t = 0.4
        let drift = checkGradients(at: [x], parameters: sde.parameters) { sde.drift(t, $0[0]) }
        XCTAssertLessThan(drift.maxRelativeError, tolerance, "drift: \(drift)", file: file, line: line)
        let diffusion = checkGradients(at: [x], parameters: sde.parameters) { sde.diffusion(t, $0[0]) }
        XCTAssertLessThan(diffusion.maxRelativeError, tolerance, "diffusion: \(diffusion)", file: file, line: line)
        let noise = fixedTensor([stateShape[0], sde.noiseDimension(t, Variable(x))], seed: 3)
        let product = checkGradients(at: [x], parameters: sde.parameters) { sde.diffusionProduct(t, $0[0], noise) }
        XCTAssertLessThan(product.maxRelativeError, tolerance, "diffusion product: \(product)", file: file, line: line)
        if sde.providesItoCorrection {
            let correction = checkGradients(at: [x], parameters: sde.parameters) { sde.itoCorrection(t, $0[0])! }
            XCTAssertLessThan(correction.maxRelativeError, tolerance, "Itô correction: \(correction)", file: file, line: line)
        }
    }

    func testLinearSDEs() throws {
        assertDifferentiable(OrnsteinUhlenbeck<Double>(theta: 0.7, mean: 0.2, sigma: 0.5))
        let gbm = GeometricBrownianMotion<Double>(mu: 0.3, sigma: 0.8)
        assertDifferentiable(gbm)
        assertDifferentiable(try gbm.converted(to: .stratonovich))
    }

    func testDiffusionModelSDEs() {
        assertDifferentiable(VPSDE<Double>())
        assertDifferentiable(VPSDE<Double>(schedule: .cosine(offset: 0.008, maximumBeta: 20)))
        assertDifferentiable(VESDE<Double>())
        let weight = Variable(fixedTensor([2, 2], seed: 5), requiresGrad: true)
        let score: ScoreFunction<Double> = { t, x in tanh(matmul(x, weight)) * (1 + t) }
        assertDifferentiable(ReverseTimeSDE(forward: VPSDE<Double>(), scoreParameters: [weight], score: score))
        assertDifferentiable(ProbabilityFlowODE(forward: VESDE<Double>(), scoreParameters: [weight], score: score))
    }

    /// The Itô correction ½ Σⱼ (∂gⱼ/∂x) gⱼ of GBM is ½σ²x: checked against the diagonal
    /// derivative computed by a vector–Jacobian product of g.
    func testItoCorrectionMatchesDiffusionDerivative() {
        let gbm = GeometricBrownianMotion<Double>(mu: 0.3, sigma: 0.8)
        let x = fixedTensor([4, 1], seed: 6) + 2
        let g = gbm.diffusion(0, Variable(x)).value
        let gTimesDerivative = vectorJacobianProduct(at: [x], cotangent: g) { gbm.diffusion(0, $0[0]) }.inputGradients[0]
        XCTAssertLessThan(maxAbsoluteDifference(gbm.itoCorrection(0, Variable(x))!.value, gTimesDerivative * 0.5), 1e-14)
    }
}
