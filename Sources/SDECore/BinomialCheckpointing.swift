/// Griewank's binomial checkpointing schedule ("treeverse", the schedule of revolve) for
/// reversing N steps of a recurrence xₙ₊₁ = Φₙ(xₙ) while storing at most C states.
///
/// The reversal of the steps [a, b) from a stored state xₐ with c storage slots (the one
/// holding xₐ included) is recursive. One step is reversed directly. With one slot, each
/// step k = b − 1, …, a is reached by advancing from xₐ again. Otherwise the schedule
/// advances to a split point m, stores xₘ, reverses [m, b) with c − 1 slots, frees xₘ and
/// reverses [a, m) with c slots. With β(c, r) = C(c + r, c) and r the smallest
/// repetition number with N ≤ β(C, r), the best split makes no step advance more than r
/// times. It also advances r N − β(C + 1, r − 1) steps in total, the minimum over all
/// schedules with C slots (Griewank and Walther, "Algorithm 799: revolve", ACM TOMS 26,
/// 2000). For C ≈ log₂ N that is O(N log N) steps with O(log N) stored states.
///
/// `sweep` makes the first forward pass and stores the states that the recursion's first
/// descent stores (xₘ₁, xₘ₂, … of the nested right-hand segments). `reverse` then runs
/// the recursion, taking those states from the sweep instead of advancing to them again.
public struct BinomialCheckpointing: Sendable {
    /// N, the number of steps to reverse.
    public let steps: Int
    /// C, the largest number of states stored at once, the start state x₀ included. It
    /// is at most N, since N states already allow a reversal without recomputation.
    public let checkpoints: Int

    /// Creates the schedule for `steps` steps with `checkpoints` slots, by default
    /// `defaultCheckpoints(steps:)`.
    public init(steps: Int, checkpoints: Int? = nil) {
        precondition(steps >= 1, "BinomialCheckpointing: steps \(steps) must be positive")
        if let checkpoints {
            precondition(checkpoints >= 1, "BinomialCheckpointing: checkpoints \(checkpoints) must be at least 1 (the start state)")
        }
        self.steps = steps
        self.checkpoints = Swift.min(checkpoints ?? Self.defaultCheckpoints(steps: steps), steps)
    }

    /// ⌈log₂ N⌉ slots, at least one: the logarithmic choice that diffrax's
    /// `RecursiveCheckpointAdjoint` documents, for which the reversal costs O(N log N) steps.
    public static func defaultCheckpoints(steps: Int) -> Int {
        var count = 0
        while (1 << count) < steps { count += 1 }
        return Swift.max(count, 1)
    }

    /// β(c, r) = C(c + r, c), the most steps that c slots reverse without advancing any
    /// step more than r times; 0 for r < 0. Saturates at `Int.max`.
    public static func maximumSteps(checkpoints c: Int, repetitions r: Int) -> Int {
        guard r >= 0, c >= 0 else { return 0 }
        let k = Swift.min(c, r)
        let n = c + r
        if k == 0 { return 1 }
        var result = 1
        for i in 1...k {
            // C(n − k + i, i) = C(n − k + i − 1, i − 1) · (n − k + i) / i is an integer at every i.
            let (product, overflow) = result.multipliedReportingOverflow(by: n - k + i)
            if overflow { return Int.max }
            result = product / i
        }
        return result
    }

    /// r, the smallest repetition number with N ≤ β(C, r).
    public var repetitions: Int { Self.repetitions(steps: steps, checkpoints: checkpoints) }

    /// r N − β(C + 1, r − 1): the fewest step advances that any schedule with C slots
    /// needs to reverse N steps, counting the first forward pass up to the last stored
    /// state but not the N reversed steps themselves.
    public var minimalAdvanceCount: Int {
        let r = repetitions
        return r * steps - Self.maximumSteps(checkpoints: checkpoints + 1, repetitions: r - 1)
    }

    /// The step indices, after 0, whose states `sweep` stores, increasing.
    public var sweepCheckpoints: [Int] {
        var (start, slots) = (0, checkpoints)
        var indices: [Int] = []
        while steps - start > 1 && slots > 1 {
            start += Self.leftLength(steps: steps - start, checkpoints: slots)
            indices.append(start)
            slots -= 1
        }
        return indices
    }

    /// The number of advances, the number of reversed steps and the most states stored at
    /// once in one call of `reverse`.
    public struct Statistics: Sendable, Equatable {
        public var advanceCount = 0
        public var reversedStepCount = 0
        public var maximumStoredStates = 0
    }

    /// The states stored by `sweep`, by step index, until `reverse` consumes them.
    ///
    /// A class, so that `reverse` can release each state as soon as the schedule frees its
    /// slot, whoever else holds the checkpoints.
    public final class Checkpoints<State> {
        fileprivate var states: [Int: State]

        fileprivate init(states: [Int: State]) {
            self.states = states
        }

        /// The number of states stored, x₀ included; 0 once `reverse` has consumed them.
        public var count: Int { states.count }
    }

    /// Advances from x₀ through all N steps, calling `advance(xₙ, n)` for n = 0, …, N − 1,
    /// and returns x_N with the states that `reverse` needs.
    public func sweep<State>(from start: State, advance: (State, Int) -> State) -> (end: State, checkpoints: Checkpoints<State>) {
        var stored = [0: start]
        var pending = sweepCheckpoints[...]
        var state = start
        for n in 0..<steps {
            state = advance(state, n)
            if pending.first == n + 1 {
                stored[n + 1] = state
                pending.removeFirst()
            }
        }
        return (state, Checkpoints(states: stored))
    }

    /// Reverses the N steps from the sweep's checkpoints: calls `reverseStep(xₙ, n)` once
    /// for each n = N − 1, …, 0 in that order, recomputing xₙ with `advance(xₖ, k)`, which
    /// must return xₖ₊₁. Consumes `checkpoints`; reversing again needs a new sweep.
    public func reverse<State>(
        _ checkpoints: Checkpoints<State>, advance: (State, Int) -> State, reverseStep: (State, Int) -> Void
    ) -> Statistics {
        precondition(checkpoints.states[0] != nil, "BinomialCheckpointing.reverse: the checkpoints lack x₀; they were consumed or not made by sweep")
        var stored = checkpoints.states
        checkpoints.states = [:]
        var statistics = Statistics(maximumStoredStates: stored.count)

        func state(advancedFrom start: Int, to end: Int) -> State {
            var state = stored[start]!
            for k in start..<end {
                state = advance(state, k)
            }
            statistics.advanceCount += end - start
            return state
        }

        func reverse(from start: Int, to end: Int, slots: Int) {
            if end - start == 1 {
                reverseStep(stored[start]!, start)
                statistics.reversedStepCount += 1
                return
            }
            if slots == 1 {
                for k in stride(from: end - 1, through: start, by: -1) {
                    reverseStep(state(advancedFrom: start, to: k), k)
                    statistics.reversedStepCount += 1
                }
                return
            }
            // On the first descent the sweep has already stored the split point.
            let split = start + Self.leftLength(steps: end - start, checkpoints: slots)
            if stored[split] == nil {
                stored[split] = state(advancedFrom: start, to: split)
                statistics.maximumStoredStates = Swift.max(statistics.maximumStoredStates, stored.count)
            }
            reverse(from: split, to: end, slots: slots - 1)
            stored[split] = nil
            reverse(from: start, to: split, slots: slots)
        }

        reverse(from: 0, to: steps, slots: self.checkpoints)
        return statistics
    }

    static func repetitions(steps: Int, checkpoints: Int) -> Int {
        var r = 0
        while maximumSteps(checkpoints: checkpoints, repetitions: r) < steps { r += 1 }
        return r
    }

    /// Returns the length j of the left part [a, a + j) of a segment of n ≥ 2 steps with
    /// c ≥ 2 slots. With β(c, r − 1) < n ≤ β(c, r), the total advances
    /// j + T(n − j, c − 1) + T(j, c) reach the minimum T(n, c) = r n − β(c + 1, r − 1) when
    /// β(c, r − 2) ≤ j ≤ β(c, r − 1) and β(c − 1, r − 1) ≤ n − j ≤ β(c − 1, r), by Pascal's
    /// rule β(c, r) = β(c − 1, r) + β(c, r − 1). The largest such j is taken.
    static func leftLength(steps n: Int, checkpoints c: Int) -> Int {
        let r = repetitions(steps: n, checkpoints: c)
        let left = Swift.min(
            maximumSteps(checkpoints: c, repetitions: r - 1), n - maximumSteps(checkpoints: c - 1, repetitions: r - 1))
        return Swift.min(Swift.max(left, 1), n - 1)
    }
}
