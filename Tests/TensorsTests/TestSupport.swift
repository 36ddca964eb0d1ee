import Tensors

/// Deterministic test tensors with entries in [-1, 1], from a small linear congruential
/// generator, so the tests need nothing but the module under test.
func testTensor(_ shape: [Int], seed: UInt64 = 1) -> Tensor<Double> {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    let scalars = (0..<shape.reduce(1, *)).map { _ -> Double in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Double(state >> 11) / Double(1 << 53) * 2 - 1
    }
    return Tensor(shape: shape, scalars: scalars)
}
