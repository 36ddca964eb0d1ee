import Tensors

/// Rescales the gradients of `parameters` so that their global norm is at most
/// `maxNorm`, and returns the norm before clipping.
///
/// The global norm is `‖g‖ = √(Σ_p Σ_i g_{p,i}²)` over every parameter with a gradient.
/// Each gradient is multiplied by `min(1, maxNorm / (‖g‖ + 1e-6))`, as
/// `torch.nn.utils.clip_grad_norm_` does (PyTorch 2.x), so gradients already inside the
/// ball are left unchanged. Parameters whose `grad` is nil are skipped. The sums of
/// squares are accumulated in Double.
@discardableResult
public func clipGradientNorm<Scalar: TensorScalar>(_ parameters: [Variable<Scalar>], maxNorm: Scalar) -> Scalar {
    precondition(maxNorm > 0, "clipGradientNorm: maxNorm \(maxNorm) must be positive")

    var sumOfSquares = 0.0
    for parameter in parameters {
        guard let gradient = parameter.grad else { continue }
        sumOfSquares += Double(gradient.withUnsafeBufferPointer { g in
            Scalar.dot(count: g.count, g.baseAddress!, g.baseAddress!)
        })
    }
    let norm = Scalar(sumOfSquares.squareRoot())

    let factor = maxNorm / (norm + Scalar(1e-6))
    if factor < 1 {
        for parameter in parameters {
            guard let gradient = parameter.grad else { continue }
            parameter.grad = gradient * factor
        }
    }
    return norm
}
