import Tensors

/// The shared parts of the separable image operators (block averaging, Gaussian blur):
/// the map `R ⊗ K`, its pseudo-inverse `R⁺ ⊗ K⁺` and its singular value decomposition.
struct SeparableOperator<Scalar: TensorScalar> {
    let channels: Int
    let map: SeparableMap<Scalar>
    let pseudoInverseMap: SeparableMap<Scalar>
    let decomposition: SeparableSingularValues<Scalar>

    /// `rowFactor` is `R` (`[outputHeight, height]`) and `columnFactor` is `K`
    /// (`[outputWidth, width]`), both row-major in Double; `relativeCutoff` is the
    /// pseudo-inverse's threshold on each factor's singular values relative to its largest.
    init(
        rowFactor: [Double], rowShape: (Int, Int), columnFactor: [Double], columnShape: (Int, Int),
        channels: Int, relativeCutoff: Double
    ) {
        precondition(channels >= 1, "SeparableOperator: channels \(channels) must be at least 1")
        self.channels = channels
        map = SeparableMap(
            rowMatrix: matrixTensor(rowFactor, rows: rowShape.0, columns: rowShape.1),
            columnMatrix: matrixTensor(columnFactor, rows: columnShape.0, columns: columnShape.1))

        let rowSVD = FactorSVD(matrix: rowFactor, rows: rowShape.0, columns: rowShape.1)
        let columnSVD = FactorSVD(matrix: columnFactor, rows: columnShape.0, columns: columnShape.1)
        pseudoInverseMap = SeparableMap(
            rowMatrix: matrixTensor(rowSVD.pseudoInverse(relativeCutoff: relativeCutoff), rows: rowShape.1, columns: rowShape.0),
            columnMatrix: matrixTensor(columnSVD.pseudoInverse(relativeCutoff: relativeCutoff), rows: columnShape.1, columns: columnShape.0))
        decomposition = SeparableSingularValues(rowFactor: rowSVD, columnFactor: columnSVD, channels: channels)
    }

    func apply(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        checkChannels(x)
        return map.apply(x)
    }

    func applyAdjoint(_ y: Tensor<Scalar>) -> Tensor<Scalar> {
        checkChannels(y)
        return map.applyAdjoint(y)
    }

    func pseudoInverse(_ y: Tensor<Scalar>) -> Tensor<Scalar> {
        checkChannels(y)
        return pseudoInverseMap.apply(y)
    }

    private func checkChannels(_ x: Tensor<Scalar>) {
        precondition(x.rank == 4 && x.shape[1] == channels, "input of shape \(x.shape) must be [N, \(channels), H, W]")
    }
}
