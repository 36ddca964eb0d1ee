import Foundation
import SDECore
import Tensors

/// The score ∇ ln p_t(x) = −ε_θ(x, k(t)) / √(1 − ᾱ(t)) of a frozen ε-model of a
/// variance-preserving diffusion, for states flattened to `[batch, d]`, with the
/// evaluations made without recording memoised by time.
///
/// A control objective evaluates the prior at the same state several times per solver
/// step: in the drift, in the reconstruction guidance of a likelihood-informed model, and
/// again when the detached objectives differentiate the stored path. The memo keeps the
/// last state and score at each time and returns the score when the state is equal
/// element by element, so each state costs one network evaluation. Evaluations with
/// recording on (relative entropy with gradients through the paths) always run the
/// network, because their graph is needed.
public final class NoisePredictorScore<Predictor: NoisePredictor>: @unchecked Sendable {
    public typealias Scalar = Predictor.Scalar

    public let predictor: Predictor
    /// The shape of one sample, such as [1, 32, 32].
    public let sampleShape: [Int]
    /// ᾱ(t) of the forward SDE.
    public let alphaBar: (Double) -> Double
    /// The predictor's time at SDE time t, such as the DDPM step index.
    public let modelTime: (Double) -> Double
    /// The largest number of times kept; the memo is cleared when it is exceeded.
    public let capacity: Int

    private var memo: [Double: (state: Tensor<Scalar>, score: Tensor<Scalar>)] = [:]
    private var evaluations = 0
    private let lock = NSLock()

    public init(
        predictor: Predictor, sampleShape: [Int], alphaBar: @escaping (Double) -> Double,
        modelTime: @escaping (Double) -> Double, capacity: Int = 4096
    ) {
        precondition(!sampleShape.isEmpty && sampleShape.allSatisfy { $0 > 0 }, "NoisePredictorScore: sample shape \(sampleShape) must be non-empty with positive sizes")
        precondition(capacity >= 1, "NoisePredictorScore: capacity \(capacity) must be positive")
        self.predictor = predictor
        self.sampleShape = sampleShape
        self.alphaBar = alphaBar
        self.modelTime = modelTime
        self.capacity = capacity
    }

    /// The number of network evaluations so far.
    public var evaluationCount: Int {
        lock.withLock { evaluations }
    }

    /// Evaluates the score at time `t` for states `x` of shape `[batch, d]`.
    public func callAsFunction(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        let batch = x.shape[0]
        precondition(
            x.rank == 2 && x.shape[1] == sampleShape.reduce(1, *),
            "NoisePredictorScore: x of shape \(x.shape) must be [batch, \(sampleShape.reduce(1, *))] for samples of shape \(sampleShape)")
        let level = alphaBar(t)
        precondition(level > 0 && level < 1, "NoisePredictorScore: ᾱ(\(t)) = \(level) must lie in (0, 1), where the score is finite")
        let recording = GradientRecording.isEnabled
        if !recording, let score = lock.withLock({ memo[t].flatMap { $0.state == x.value ? $0.score : nil } }) {
            return Variable(score)
        }

        let times = Tensor<Scalar>(shape: [batch], repeating: Scalar(modelTime(t)))
        let noise = predictor.predictNoise(x.reshaped(to: [batch] + sampleShape), at: times).reshaped(to: x.shape)
        let score = noise * Scalar(-1 / (1 - level).squareRoot())
        lock.withLock {
            evaluations += 1
            if !recording {
                if memo.count >= capacity && memo[t] == nil { memo.removeAll() }
                memo[t] = (x.value, score.value)
            }
        }
        return score
    }
}
