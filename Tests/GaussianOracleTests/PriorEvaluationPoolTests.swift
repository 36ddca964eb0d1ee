import DEFTScoreMatching
import NeuralNetworks
import SDECore
import Tensors
import XCTest

/// Counts the states at which the wrapped ε-model is evaluated.
final class CountingNoisePredictor<Scalar: TensorScalar>: NoisePredictor {
    let wrapped: StandardNormalNoisePredictor<Scalar>
    private(set) var evaluatedStates = 0

    init(schedule: DDPMSchedule) {
        wrapped = StandardNormalNoisePredictor(schedule: schedule)
    }

    func predictNoise(_ x: Variable<Scalar>, at t: Tensor<Scalar>) -> Variable<Scalar> {
        evaluatedStates += x.shape[0]
        return wrapped.predictNoise(x, at: t)
    }
}

final class PriorEvaluationPoolTests: XCTestCase {
    let schedule = DDPMSchedule.linear(betaStart: 1e-4, betaEnd: 0.02, count: 1000)

    /// States whose entries all equal their label, so that the pool's order can be read off.
    func labelledStates(_ labels: [Int]) -> NoisedStates<Float> {
        let values = Tensor<Float>(shape: [labels.count, 2], scalars: labels.flatMap { [Float($0), Float($0)] })
        return NoisedStates(x0: values, times: labels.map(Double.init), noise: values, state: values, priorNoise: values)
    }

    func labels(of pool: PriorEvaluationPool<Float>) -> [Int] {
        pool.states.map { $0.times.map { Int($0) } } ?? []
    }

    func testPoolReplacesTheOldestStates() {
        var pool = PriorEvaluationPool<Float>(capacity: 5)
        XCTAssertEqual(pool.count, 0)
        pool.insert(labelledStates([0, 1]))
        pool.insert(labelledStates([2, 3]))
        XCTAssertFalse(pool.isFull)
        XCTAssertEqual(labels(of: pool), [0, 1, 2, 3])

        // 4 fills the last slot, then 5 takes the place of 0, the oldest, and 6 that of 1.
        pool.insert(labelledStates([4, 5]))
        XCTAssertTrue(pool.isFull)
        XCTAssertEqual(labels(of: pool), [5, 1, 2, 3, 4])
        pool.insert(labelledStates([6]))
        XCTAssertEqual(labels(of: pool), [5, 6, 2, 3, 4])

        // Every array of a state moves with it.
        let states = pool.states!
        XCTAssertEqual(states.x0.scalars, [5, 5, 6, 6, 2, 2, 3, 3, 4, 4])
        XCTAssertEqual(states.priorNoise.scalars, states.x0.scalars)
        XCTAssertEqual(states.state.scalars, states.x0.scalars)
        XCTAssertEqual(states.noise.scalars, states.x0.scalars)

        // A first insertion beyond the capacity keeps the newest states.
        var small = PriorEvaluationPool<Float>(capacity: 2)
        small.insert(labelledStates([7, 8, 9]))
        XCTAssertEqual(labels(of: small), [8, 9])
        small.insert(labelledStates([10]))
        XCTAssertEqual(labels(of: small), [10, 9])
    }

    func testPoolDrawsUniformly() {
        // 4000 draws from 4 states: each count is binomial with mean 1000 and standard
        // deviation √(4000 · 0.25 · 0.75) ≈ 27; the tolerance 140 is five of those.
        var pool = PriorEvaluationPool<Float>(capacity: 4)
        pool.insert(labelledStates([0, 1, 2, 3]))
        var generator = PhiloxRandom(seed: 21)
        let drawn = pool.draw(4000, using: &generator)
        XCTAssertEqual(drawn.count, 4000)
        var counts = [Int](repeating: 0, count: 4)
        for time in drawn.times {
            counts[Int(time)] += 1
        }
        for count in counts {
            XCTAssertEqual(Double(count), 1000, accuracy: 140, "\(counts)")
        }
        // The drawn arrays stay together.
        XCTAssertEqual(drawn.x0.scalars, drawn.times.flatMap { [Float($0), Float($0)] })
    }

    /// Builds a toy fine-tuning: standard normal 8 × 8 images, a third of the pixels observed
    /// at σ_y = 0.1, and a small U-Net.
    func toyFineTuning<Predictor: NoisePredictor>(
        prior: Predictor, training: DEFTTrainingConfiguration
    ) -> DEFTImageFineTuning<Predictor, DDPMSchedule> where Predictor.Scalar == Float {
        let mask = Tensor<Float>(shape: [1, 1, 8, 8], scalars: (0..<64).map { $0 % 3 == 0 ? 1 : 0 })
        let likelihood = MaskedGaussianObservation(mask: mask, noiseStandardDeviation: 0.1)
        var draws = PhiloxRandom(seed: 9)
        let images = Tensor<Float>.normal(shape: [64, 1, 8, 8], using: &draws)
        let architecture = ImageHTransformArchitecture(
            channels: 1, featureChannels: 1, baseChannels: 4, channelMultipliers: [1, 2], groups: 2,
            guidanceEmbeddingDimension: 4, guidanceHiddenSizes: [4], gradientInputScale: 0.5, tweedieBounds: nil)
        return DEFTImageFineTuning(
            prior: prior, schedule: schedule, images: images, observationModel: likelihood, features: { $0 },
            task: "test", configuration: DEFTImageFineTuningConfiguration(training: training, architecture: architecture, seed: 3))
    }

    func testReuseOneKeepsTheDrawsOfSampleBatch() {
        // Without a pool, fine-tuning must take exactly the steps of the trainer fed with
        // whole batches (images, then observations, then t and ε), so that networks
        // fine-tuned before the pool existed are reproduced bit for bit.
        let training = DEFTTrainingConfiguration(steps: 20, batchSize: 8, learningRate: 3e-3, warmupSteps: 2, reportInterval: 0)
        let prior = StandardNormalNoisePredictor<Float>(schedule: schedule)
        let pooled = toyFineTuning(prior: prior, training: training)
        pooled.train()

        let batched = toyFineTuning(prior: prior, training: training)
        var generator = PhiloxRandom(seed: 3).split(1)
        batched.trainer.train(sampleBatch: { batched.trainingBatch(using: &$0, size: $1) }, using: &generator)
        XCTAssertEqual(pooled.trainer.losses, batched.trainer.losses)
    }

    func testReuseCutsPriorEvaluationsAndStillTrains() {
        // With R = 4, batch 8 and a pool of 16 states, fine-tuning evaluates the prior on the
        // 16 states that fill the pool and then on 2 per step; without reuse on 8 per step.
        let steps = 300
        let reused = DEFTTrainingConfiguration(
            steps: steps, batchSize: 8, learningRate: 3e-3, warmupSteps: 20, reportInterval: 0, priorReuse: 4, priorPoolCapacity: 16)
        let counting = CountingNoisePredictor<Float>(schedule: schedule)
        let fineTuning = toyFineTuning(prior: counting, training: reused)
        let beforeTraining = counting.evaluatedStates
        fineTuning.train()
        XCTAssertEqual(counting.evaluatedStates - beforeTraining, 16 + 2 * steps)

        var plainTraining = reused
        plainTraining.priorReuse = 1
        let plainCounting = CountingNoisePredictor<Float>(schedule: schedule)
        let plain = toyFineTuning(prior: plainCounting, training: plainTraining)
        let plainBefore = plainCounting.evaluatedStates
        plain.train()
        XCTAssertEqual(plainCounting.evaluatedStates - plainBefore, 8 * steps)

        // The pooled steps must still optimise. As in the fine-tuning test without a pool, the
        // first losses are in the hundreds of millions, because the initial guidance term is
        // far too large at high noise, and a working optimiser cuts them by orders of magnitude.
        let losses = fineTuning.trainer.losses
        let first = losses.prefix(20).reduce(0, +) / 20
        let last = losses.suffix(20).reduce(0, +) / 20
        print("pooled fine-tuning on the toy problem: mean loss of the first 20 steps \(first), of the last 20 \(last)")
        XCTAssertLessThan(last, first / 10)
    }
}
