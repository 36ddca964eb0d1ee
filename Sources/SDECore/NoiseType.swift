/// The reading of a stochastic integral ∫ g dW: at the left end of each step (Itô) or
/// at its midpoint (Stratonovich).
///
/// The two readings of the same coefficients give different processes unless the noise
/// is additive. An Itô SDE with drift f equals the Stratonovich SDE with drift
/// f − ½ Σⱼ (∂gⱼ/∂x) gⱼ, where gⱼ is column j of the diffusion.
public enum SDEInterpretation: Sendable, CustomStringConvertible {
    case ito
    case stratonovich

    public var description: String {
        switch self {
        case .ito: "Itô"
        case .stratonovich: "Stratonovich"
        }
    }
}

/// The structure of the diffusion g(t, x): its layout and whether it depends on the state.
///
/// With state x of shape `[batch, d]` and noise W of shape `[batch, m]`, `diffusion(t, x)`
/// returns:
/// - `.diagonal`: shape `[batch, d]` and m = d; component i is driven by Wᵢ alone, so
///   the product with an increment is `g ⊙ dW`.
/// - `.scalar`: shape `[batch, d]` and m = 1; every component is driven by the same
///   Brownian motion, so the product is `g ⊙ dW` with `dW` of shape `[batch, 1]`
///   broadcast. (torchsde stores scalar noise as `[batch, d, 1]`; here the trailing 1 is
///   dropped.)
/// - `.general`: shape `[batch, d, m]`, any d and m; the product is the batched
///   matrix–vector product `g dW`.
///
/// `isAdditive` states that g does not depend on x (it may depend on t and on
/// parameters). Itô and Stratonovich readings then agree, and solvers for additive noise,
/// such as SRA1, apply.
public struct NoiseType: Hashable, Sendable, CustomStringConvertible {
    public enum Layout: Hashable, Sendable {
        case scalar, diagonal, general
    }

    public var layout: Layout
    public var isAdditive: Bool

    public init(layout: Layout, isAdditive: Bool) {
        self.layout = layout
        self.isAdditive = isAdditive
    }

    /// One Brownian motion shared by all components; g may depend on x.
    public static let scalar = NoiseType(layout: .scalar, isAdditive: false)
    /// One Brownian motion per component; g may depend on x.
    public static let diagonal = NoiseType(layout: .diagonal, isAdditive: false)
    /// A full `[d, m]` diffusion matrix per batch element; g may depend on x.
    public static let general = NoiseType(layout: .general, isAdditive: false)

    /// Noise whose diffusion does not depend on the state, with the given layout.
    public static func additive(_ layout: Layout) -> NoiseType {
        NoiseType(layout: layout, isAdditive: true)
    }

    /// Whether the diffusion's columns commute (L^j g_k = L^k g_j). Scalar, diagonal and
    /// additive noise do, and then Heun and Milstein-type schemes reach strong order 1
    /// without Lévy areas.
    public var isCommutative: Bool {
        layout != .general || isAdditive
    }

    /// Returns the number m of Brownian motions for a state of `stateDimension`
    /// components, or nil for general noise, whose m is the last extent of the diffusion.
    public func noiseDimension(stateDimension: Int) -> Int? {
        switch layout {
        case .scalar: 1
        case .diagonal: stateDimension
        case .general: nil
        }
    }

    public var description: String {
        let name: String
        switch layout {
        case .scalar: name = "scalar"
        case .diagonal: name = "diagonal"
        case .general: name = "general"
        }
        return isAdditive ? "additive \(name)" : name
    }
}
