import CBLAS
import Dispatch
import Foundation

/// A counter-based random number generator: Philox-4×32-10 (Salmon et al., "Parallel
/// random numbers: as easy as 1, 2, 3", SC 2011).
///
/// Each output block is a bijection of a 128-bit counter under a 64-bit key, so any
/// position of any stream can be computed directly. A generator is a `(seed, stream)`
/// pair plus a position; `split(_:)` derives an independent child stream by index, so a
/// Brownian path, a data loader and each parallel worker get their own reproducible
/// stream. Fills write element `i` from counter position `i` alone, which makes the
/// bits independent of the number of threads used.
public struct PhiloxRandom: RandomNumberGenerator, Sendable {
    /// The key: the user's seed.
    public let seed: UInt64
    /// The high 64 bits of the counter: which stream.
    public let stream: UInt64
    /// The low 64 bits of the counter: the next block to use.
    public private(set) var position: UInt64 = 0

    private var buffered: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
    private var bufferedCount = 0

    public init(seed: UInt64, stream: UInt64 = 0) {
        self.seed = seed
        self.stream = stream
    }

    /// Returns a generator for child stream `index`, independent of this one and of
    /// every other index. The parent's position does not matter.
    public func split(_ index: UInt64) -> PhiloxRandom {
        PhiloxRandom(seed: seed, stream: splitMix64(splitMix64(stream) &+ index &+ 0x632B_E59B_D9B4_E019))
    }

    /// Computes the block at counter `(stream, position)`.
    public static func block(seed: UInt64, stream: UInt64, position: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
        var c0 = UInt32(truncatingIfNeeded: position)
        var c1 = UInt32(truncatingIfNeeded: position >> 32)
        var c2 = UInt32(truncatingIfNeeded: stream)
        var c3 = UInt32(truncatingIfNeeded: stream >> 32)
        var k0 = UInt32(truncatingIfNeeded: seed)
        var k1 = UInt32(truncatingIfNeeded: seed >> 32)
        for round in 0..<10 {
            if round > 0 {
                k0 &+= 0x9E37_79B9
                k1 &+= 0xBB67_AE85
            }
            let product0 = UInt64(0xD251_1F53) &* UInt64(c0)
            let product1 = UInt64(0xCD9E_8D57) &* UInt64(c2)
            let (hi0, lo0) = (UInt32(truncatingIfNeeded: product0 >> 32), UInt32(truncatingIfNeeded: product0))
            let (hi1, lo1) = (UInt32(truncatingIfNeeded: product1 >> 32), UInt32(truncatingIfNeeded: product1))
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
        }
        return (c0, c1, c2, c3)
    }

    public mutating func next() -> UInt64 {
        if bufferedCount == 0 {
            buffered = Self.block(seed: seed, stream: stream, position: position)
            position &+= 1
            bufferedCount = 2
        }
        defer { bufferedCount -= 1 }
        return bufferedCount == 2
            ? UInt64(buffered.0) | UInt64(buffered.1) << 32
            : UInt64(buffered.2) | UInt64(buffered.3) << 32
    }

    /// Returns a uniform draw from [0, 1) with 53 random bits.
    public mutating func nextUniform() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// Returns a standard normal draw.
    public mutating func nextNormal() -> Double {
        let block = Self.block(seed: seed, stream: stream, position: position)
        position &+= 1
        bufferedCount = 0
        return Self.boxMuller(block).0
    }

    /// Maps one block to two independent standard normals by the Box–Muller transform:
    /// with u₁ ∈ (0, 1] and u₂ ∈ [0, 1), √(−2 ln u₁) (cos 2πu₂, sin 2πu₂).
    @inline(__always)
    static func boxMuller(_ block: (UInt32, UInt32, UInt32, UInt32)) -> (Double, Double) {
        let bits1 = UInt64(block.0) | UInt64(block.1) << 32
        let bits2 = UInt64(block.2) | UInt64(block.3) << 32
        let u1 = (Double(bits1 >> 11) + 1) * 0x1p-53
        let u2 = Double(bits2 >> 11) * 0x1p-53
        let radius = (-2 * Foundation.log(u1)).squareRoot()
        let angle = 2 * Double.pi * u2
        return (radius * Foundation.cos(angle), radius * Foundation.sin(angle))
    }

    /// Fills `buffer` with normals of mean 0 from the next ⌈count/2⌉ blocks and advances
    /// past them. Element `i` depends only on block `position + i/2`, so the work is split
    /// across threads when it is large without changing any bit.
    ///
    /// Double draws are `boxMuller` of each block, through libm. Float draws run the same
    /// transform in Float with polynomial logarithm, sine and cosine, vectorised in C
    /// (`deft_philox_normal_f32`): they agree with the rounded Double draws to a few
    /// Float rounding errors. Each standard draw is then multiplied by
    /// `standardDeviation`, with the bits of a separate multiplication.
    public mutating func fillNormal<Scalar: TensorScalar>(
        _ buffer: UnsafeMutableBufferPointer<Scalar>, standardDeviation: Scalar = 1
    ) {
        let count = buffer.count
        let start = position
        let (seed, stream) = (self.seed, self.stream)
        let blocks = (count + 1) / 2
        if Scalar.self == Float.self, let base = buffer.baseAddress {
            let floats = UnsafeMutableRawPointer(base).assumingMemoryBound(to: Float.self)
            let scale = Float(standardDeviation)
            // About 2 ns a draw on one core (AVX-512 variant, against 30 ns for Double). A
            // chunk of 2⁸ blocks takes about 1 µs, about as long as a helper of the worker
            // team takes to start it, so a second core pays off above 2⁹ blocks.
            parallelChunks(blocks, minimumChunk: 1 << 8) { range in
                let first = 2 * range.lowerBound
                let end = Swift.min(count, 2 * range.upperBound)
                deft_philox_normal_f32(
                    elementKernelLevel, seed, stream, start &+ UInt64(range.lowerBound), scale, floats + first,
                    end - first)
            }
            position &+= UInt64(blocks)
            bufferedCount = 0
            return
        }
        parallelChunks(blocks, minimumChunk: 1 << 14) { range in
            for blockIndex in range {
                let (z0, z1) = Self.boxMuller(Self.block(seed: seed, stream: stream, position: start &+ UInt64(blockIndex)))
                buffer[2 * blockIndex] = Scalar(z0) * standardDeviation
                if 2 * blockIndex + 1 < count { buffer[2 * blockIndex + 1] = Scalar(z1) * standardDeviation }
            }
        }
        position &+= UInt64(blocks)
        bufferedCount = 0
    }

    /// Fills `buffer` with uniforms on [0, 1) from the next ⌈count/2⌉ blocks and advances past them.
    public mutating func fillUniform<Scalar: TensorScalar>(_ buffer: UnsafeMutableBufferPointer<Scalar>) {
        let count = buffer.count
        let start = position
        let (seed, stream) = (self.seed, self.stream)
        let blocks = (count + 1) / 2
        parallelChunks(blocks, minimumChunk: 1 << 14) { range in
            for blockIndex in range {
                let block = Self.block(seed: seed, stream: stream, position: start &+ UInt64(blockIndex))
                let bits1 = UInt64(block.0) | UInt64(block.1) << 32
                let bits2 = UInt64(block.2) | UInt64(block.3) << 32
                buffer[2 * blockIndex] = Scalar(Double(bits1 >> 11) * 0x1p-53)
                if 2 * blockIndex + 1 < count { buffer[2 * blockIndex + 1] = Scalar(Double(bits2 >> 11) * 0x1p-53) }
            }
        }
        position &+= UInt64(blocks)
        bufferedCount = 0
    }
}

/// SplitMix64's finaliser, a bijective 64-bit mixer used to derive stream identifiers.
@inline(__always)
func splitMix64(_ value: UInt64) -> UInt64 {
    var z = value &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

extension Tensor {
    /// Creates a tensor of independent N(mean, std²) draws.
    public static func normal(
        shape: [Int], mean: Scalar = 0, standardDeviation: Scalar = 1, using generator: inout PhiloxRandom
    ) -> Tensor {
        var result = Tensor(shape: shape) { generator.fillNormal($0, standardDeviation: standardDeviation) }
        if mean != 0 {
            result = result + mean
        }
        return result
    }

    /// Creates a tensor of independent uniform draws from [lower, upper).
    public static func uniform(
        shape: [Int], lower: Scalar = 0, upper: Scalar = 1, using generator: inout PhiloxRandom
    ) -> Tensor {
        var result = Tensor(shape: shape) { generator.fillUniform($0) }
        if lower != 0 || upper != 1 {
            result = result * (upper - lower) + lower
        }
        return result
    }
}
