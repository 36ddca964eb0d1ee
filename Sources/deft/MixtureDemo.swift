import Foundation
import NeuralNetworks
import Tensors

/// Trains a DDPM ε-model on ½ N((-2, 0), s² I) + ½ N((2, 0), s² I) with s = 0.5 and checks
/// its ancestral samples against the mixture.
struct MixtureDemo {
    struct Configuration {
        var trainingSteps: Int
        var batchSize: Int
        var sampleCount: Int
        var seed: UInt64
    }

    static let modeCentre = 2.0
    static let modeStandardDeviation = 0.5
    /// The DDPM schedule: β linear from 1e-4 to 0.02 over 1000 steps.
    static let diffusionSteps = 1000

    let configuration: Configuration

    func run() -> DemoSummary {
        let generator = PhiloxRandom(seed: configuration.seed)
        var initialization = generator.split(0)
        var dataStream = generator.split(1)
        var samplingStream = generator.split(2)

        let betas = (0..<Self.diffusionSteps).map { 1e-4 + (0.02 - 1e-4) * Double($0) / Double(Self.diffusionSteps - 1) }
        var alphaBars: [Double] = []
        var product = 1.0
        for beta in betas {
            product *= 1 - beta
            alphaBars.append(product)
        }

        let embedding = SinusoidalTimeEmbedding<Float>(dimension: 32)
        let network = MLP<Float>(sizes: [2 + 32, 128, 128, 128, 2], activation: .silu, using: &initialization)
        func epsilon(_ x: Variable<Float>, _ steps: Tensor<Float>) -> Variable<Float> {
            network(Variable.concatenate([x, embedding(Variable(steps))], alongAxis: 1))
        }

        // Training: minimise E ‖ε_θ(√ᾱ_k x₀ + √(1-ᾱ_k) ε, k) - ε‖² over k uniform in 1…N.
        let optimizer = Adam(parameters: network.parameters, learningRate: 1e-3)
        let schedule = CosineDecay(initialRate: 1e-3, finalRate: 1e-5, decaySteps: configuration.trainingSteps)
        let batch = configuration.batchSize
        let start = Date()
        var recentLoss = 0.0
        for step in 0..<configuration.trainingSteps {
            let x0 = sampleMixture(count: batch, using: &dataStream)
            let noise = Tensor<Float>.normal(shape: [batch, 2], using: &dataStream)
            let uniforms = Tensor<Float>.uniform(shape: [batch], using: &dataStream).scalars
            let steps = uniforms.map { Swift.min(Int($0 * Float(Self.diffusionSteps)), Self.diffusionSteps - 1) }
            let signal = Tensor<Float>(shape: [batch, 1], scalars: steps.map { Float(alphaBars[$0].squareRoot()) })
            let noiseScale = Tensor<Float>(shape: [batch, 1], scalars: steps.map { Float((1 - alphaBars[$0]).squareRoot()) })
            let xt = x0 * signal + noise * noiseScale

            network.zeroGradients()
            let residual = epsilon(Variable(xt), Tensor(steps.map { Float($0) })) - Variable(noise)
            let loss = (residual * residual).mean()
            loss.backward()
            optimizer.learningRate = Float(schedule.learningRate(atStep: step))
            optimizer.step()

            recentLoss = step == 0 ? Double(loss.value.scalar) : 0.99 * recentLoss + 0.01 * Double(loss.value.scalar)
            if (step + 1) % 500 == 0 || step + 1 == configuration.trainingSteps {
                let elapsed = Date().timeIntervalSince(start)
                let remaining = elapsed / Double(step + 1) * Double(configuration.trainingSteps - step - 1)
                Log.info(String(
                    format: "train step %d/%d  loss %.4f  %.0f steps/s  %.1f s left",
                    step + 1, configuration.trainingSteps, recentLoss, Double(step + 1) / elapsed, remaining))
            }
        }
        let trainingSeconds = Date().timeIntervalSince(start)

        // Ancestral sampling: x_{k-1} = (x_k - β_k/√(1-ᾱ_k) ε_θ(x_k, k)) / √α_k + √β_k z.
        let samplingStart = Date()
        let count = configuration.sampleCount
        var x = Tensor<Float>.normal(shape: [count, 2], using: &samplingStream)
        withoutRecording {
            for k in stride(from: Self.diffusionSteps - 1, through: 0, by: -1) {
                let predicted = epsilon(Variable(x), Tensor(shape: [count], repeating: Float(k))).value
                let beta = betas[k]
                x = (x - predicted * Float(beta / (1 - alphaBars[k]).squareRoot())) * Float(1 / (1 - beta).squareRoot())
                if k > 0 {
                    x = x + Tensor<Float>.normal(shape: [count, 2], using: &samplingStream) * Float(beta.squareRoot())
                }
            }
        }
        let samplingSeconds = Date().timeIntervalSince(samplingStart)
        Log.info(String(format: "sampled %d points with %d steps in %.1f s", count, Self.diffusionSteps, samplingSeconds))

        return DemoSummary(
            samples: x, trainingSteps: configuration.trainingSteps, finalLoss: recentLoss,
            trainingSeconds: trainingSeconds, samplingSeconds: samplingSeconds,
            parameterCount: network.parameterCount)
    }

    private func sampleMixture(count: Int, using generator: inout PhiloxRandom) -> Tensor<Float> {
        let noise = Tensor<Float>.normal(shape: [count, 2], using: &generator)
        let signs = Tensor<Float>.uniform(shape: [count], using: &generator).scalars.map { $0 < 0.5 ? Float(-1) : 1 }
        var centres = [Float](repeating: 0, count: 2 * count)
        for (index, sign) in signs.enumerated() { centres[2 * index] = sign * Float(Self.modeCentre) }
        return Tensor(shape: [count, 2], scalars: centres) + noise * Float(Self.modeStandardDeviation)
    }
}
