import Tensors

extension GaussianProblem {
    /// Draws a random problem from `seed`: m ~ N(0, I), S = L Lᵀ / d + 0.3 I with a
    /// standard normal d × d matrix L (so S is dense and its eigenvalues are at least 0.3),
    /// a standard normal k × d operator A, and one observation y = A x₀ + σ_y ξ with
    /// x₀ ~ N(m, S).
    public static func generated(
        dimension d: Int, observationDimension k: Int, noiseStd: Double, schedule: GaussianScheduleSpecification,
        seed: UInt64, samples: Int = defaultSamples
    ) -> GaussianProblem {
        precondition(d > 0 && k > 0, "GaussianProblem.generated: dimensions d = \(d) and k = \(k) must be positive")
        var generator = PhiloxRandom(seed: seed)
        let l = Matrix(Tensor<Double>.normal(shape: [d, d], using: &generator))
        let covariance = l * l.transposed * (1 / Double(d)) + Matrix(identity: d) * 0.3
        let mean = Tensor<Double>.normal(shape: [d], using: &generator).scalars
        let a = Matrix(Tensor<Double>.normal(shape: [k, d], using: &generator))

        let prior = try! MultivariateNormal(mean: mean, covariance: covariance)
        let x0 = prior.sample(count: 1, using: &generator, as: Double.self)
        let observationModel = LinearGaussianObservation<Double>(operator: a, noiseStandardDeviation: noiseStd)
        let y = observationModel.sample(given: x0, using: &generator).scalars
        return GaussianProblem(
            mean: mean, covariance: prior.covariance, operatorMatrix: a, noiseStd: noiseStd, observation: y,
            schedule: schedule, seed: seed, samples: samples)
    }
}
