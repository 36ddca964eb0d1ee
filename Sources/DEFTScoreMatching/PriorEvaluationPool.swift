import SDECore
import Tensors

/// A pool of noised training states with the frozen prior's prediction at each, so that
/// one evaluation of the prior serves several training draws.
///
/// DEFT's loss needs ε_θ(x_t, t) at every training state, and on images that forward pass
/// of the large prior can cost more than the small h-network's forward and backward passes
/// together. With a reuse factor R, each training step evaluates the prior on B / R fresh
/// states, which take the places of the oldest in the pool. It then draws its B states
/// uniformly with replacement from the pool and pairs each with a fresh observation of its
/// x₀. A state thus enters about R batches, always with new observation noise, and the
/// prior's cost per step falls R-fold. The draws stay unbiased for the loss over the
/// states in the pool, and the pool is renewed every capacity · R / B steps.
public struct PriorEvaluationPool<Scalar: TensorScalar> {
    /// The maximum number of states in the pool.
    public let capacity: Int
    /// The states in the pool, nil while empty.
    public private(set) var states: NoisedStates<Scalar>?
    /// The slot that the next inserted state replaces once the pool is full.
    private var oldest = 0

    public init(capacity: Int) {
        precondition(capacity >= 1, "PriorEvaluationPool: capacity \(capacity) must be at least 1")
        self.capacity = capacity
    }

    /// The number of states in the pool.
    public var count: Int { states?.count ?? 0 }

    /// Whether the pool contains `capacity` states.
    public var isFull: Bool { count == capacity }

    /// Adds `fresh`: appended while there is room, then in place of the oldest states.
    public mutating func insert(_ fresh: NoisedStates<Scalar>) {
        guard let held = states else {
            states = fresh.count <= capacity ? fresh : fresh.gathering(atIndices: Array(fresh.count - capacity..<fresh.count))
            return
        }
        let combined = NoisedStates.concatenate([held, fresh])
        var slots = Array(0..<held.count)
        for index in 0..<fresh.count {
            if slots.count < capacity {
                slots.append(held.count + index)
            } else {
                slots[oldest] = held.count + index
                oldest = (oldest + 1) % capacity
            }
        }
        states = combined.gathering(atIndices: slots)
    }

    /// Draws `count` states uniformly with replacement.
    public func draw(_ count: Int, using generator: inout PhiloxRandom) -> NoisedStates<Scalar> {
        guard let states else {
            preconditionFailure("PriorEvaluationPool: draw from an empty pool; insert states first")
        }
        let size = states.count
        let indices = (0..<count).map { _ in Swift.min(Int(generator.nextUniform() * Double(size)), size - 1) }
        return states.gathering(atIndices: indices)
    }
}
