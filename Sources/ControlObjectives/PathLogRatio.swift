import SDECore
import Tensors

/// How a detached objective gets per-step gradients after the forward pass.
public enum DetachedPathMemory: Sendable {
    /// Keep the states of the path (values only, N · batch · d scalars) and differentiate
    /// each step's term on them: one simulation.
    case storedPath
    /// Keep nothing and simulate the same path again for the gradient: two simulations,
    /// memory independent of the number of steps.
    case recomputedPath
}

/// Per-sample log-ratios w = log dQ^u/dP − ln ℓ(X₀) on detached paths of a reference
/// process, with the means to differentiate ⟨c, w⟩ in the parameters of u.
struct DetachedLogRatios<Scalar: TensorScalar> {
    /// w, `[batch]`.
    let values: Tensor<Scalar>
    /// X₀, `[batch, d]`.
    let samples: Tensor<Scalar>
    /// Returns ∇_θ Σᵢ cᵢ wᵢ for a cotangent c of shape `[batch]`. The terminal term has no
    /// gradient, because the path does not depend on θ.
    let gradient: (Tensor<Scalar>) throws -> [Tensor<Scalar>]
}

extension ControlProblem {
    /// Returns one Euler–Maruyama step's term of the Girsanov log-ratio log dQ^u/dP on a
    /// path of the reference process with control v and noise scale λ, `[batch, 1]`:
    ///
    ///     uₙ · (vₙ δₙ + λ ΔWₙ) − ½ ‖uₙ‖² δₙ,
    ///
    /// where uₙ = u(tₙ, xₙ), vₙ = v(tₙ, xₙ), δₙ = |tₙ₊₁ − tₙ| and ΔWₙ is the step's
    /// Brownian increment, with which the step adds λ σ ΔWₙ. The step's mean is
    /// xₙ + (b + σ v) δₙ and its covariance λ² σ² δₙ I. For λ = 1 the term is exactly the
    /// log-ratio of the Gaussian transition densities of Q^u and P at xₙ₊₁, so the sum over
    /// steps is the log Radon–Nikodym derivative of the discrete-time chains. For λ ≠ 1 it
    /// is the continuous-time functional ∫ u · σ⁻¹ (dX − b dτ) − ½ ∫ ‖u‖² dτ evaluated on
    /// the path.
    ///
    /// SDECore's `girsanovLogRatioIncrement` computes the term; its controls are those of
    /// the solve's own time direction, −u and −v here, because the solve runs backwards.
    /// `referenceControl` is v, or nil for the on-policy reference v = stopgrad(u).
    func girsanovTerm<Model: HTransformModel>(
        _ model: Model, step: SDEStep<Scalar>, referenceControl: Tensor<Scalar>?, noiseScale: Double,
        context: Tensor<Scalar>?
    ) -> Variable<Scalar> where Model.Scalar == Scalar {
        let u = control(model, at: step.t0, step.x0, context: context)
        let v = referenceControl ?? u.value
        let dW = noiseScale == 1 ? step.increment.dW : step.increment.dW * Scalar(noiseScale)
        return girsanovLogRatioIncrement(control: -u, samplingControl: Variable(-v), dt: step.dt, dW: dW)
    }

    /// Returns the reference control v(t, x) in control units, or nil when it is the
    /// current control, evaluated without recording.
    func referenceControl<Model: HTransformModel>(
        _ reference: ReferenceProcess<Scalar>, model: Model, at t: Double, _ x: Variable<Scalar>, context: Tensor<Scalar>?
    ) -> Tensor<Scalar>? where Model.Scalar == Scalar {
        switch reference.drift {
        case .currentControl:
            return nil
        case .prior:
            return Tensor(zeros: x.shape)
        case .model(let fixed):
            return withoutRecording { (fixed(t, x.detached(), context: context) * forward.diffusion(t, x)).value }
        }
    }

    /// Returns the reference SDE: the model's own h (recorded nowhere), 0, or a fixed model.
    func referenceSDE<Model: HTransformModel>(
        _ reference: ReferenceProcess<Scalar>, model: Model, context: Tensor<Scalar>?
    ) -> ControlledReverseSDE<Forward> where Model.Scalar == Scalar {
        let h: (Double, Variable<Scalar>) -> Variable<Scalar>
        switch reference.drift {
        case .currentControl:
            h = { t, x in model(t, x, context: context) }
        case .prior:
            h = { _, x in Variable(Tensor(zeros: x.shape)) }
        case .model(let fixed):
            h = { t, x in fixed(t, x, context: context) }
        }
        return ControlledReverseSDE(forward: forward, priorScore: priorScore, noiseScale: reference.noiseScale, hTransform: h)
    }

    /// Simulates the reference process without recording and returns wᵢ = log dQ^u/dP − ln ℓ(X₀ᵢ)
    /// for each path, with `girsanovTerm` summed over the steps.
    func detachedLogRatios<Model: HTransformModel>(
        _ model: Model, reference: ReferenceProcess<Scalar>, randomness: PathRandomness<Scalar>,
        context: Tensor<Scalar>?, memory: DetachedPathMemory, solver: any SDESolver
    ) throws -> DetachedLogRatios<Scalar> where Model.Scalar == Scalar {
        let sde = referenceSDE(reference, model: model, context: context)
        let parameters = model.parameters
        let batch = randomness.batch

        // The step's term as a recorded graph in θ; the path states are constants.
        let term: (SDEStep<Scalar>) -> Variable<Scalar> = { step in
            let v = referenceControl(reference, model: model, at: step.t0, step.x0, context: context)
            return girsanovTerm(model, step: step, referenceControl: v, noiseScale: reference.noiseScale, context: context)
        }

        // Pass 1: simulate and accumulate Σₙ termₙ as values.
        var total = Tensor<Scalar>(zeros: [batch, 1])
        let solution = try solve(
            sde, x0: Variable(randomness.start), grid: grid, solver: solver, brownian: randomness.brownian,
            gradient: .detached, recordPath: memory == .storedPath
        ) { step in
            total += withoutRecording { term(step).value }
        }
        let samples = solution.terminal.value
        let logWeight = withoutRecording { terminalCost.logWeight(Variable(samples), context: context).value }
        let values = total.reshaped(to: [batch]) - logWeight

        // Pass 2, on demand: Σₙ ∇_θ ⟨c, termₙ⟩ one step at a time.
        let path = solution.path
        let gradient: (Tensor<Scalar>) throws -> [Tensor<Scalar>] = { cotangent in
            let column = cotangent.reshaped(to: [batch, 1])
            if let path {
                return path.gradientOfSumOverSteps(cotangent: column, parameters: parameters, term)
            }
            var totals = parameters.map { Tensor<Scalar>(zeros: $0.shape) }
            _ = try solve(
                sde, x0: Variable(randomness.start), grid: grid, solver: solver, brownian: randomness.brownian,
                gradient: .detached
            ) { step in
                let stepGradients = GradientRecording.withRecording {
                    Tensors.gradients(of: term(step), withRespectTo: parameters, cotangent: column)
                }
                for index in totals.indices {
                    totals[index].addScaled(stepGradients[index], by: 1)
                }
            }
            return totals
        }
        return DetachedLogRatios(values: values, samples: samples, gradient: gradient)
    }
}
