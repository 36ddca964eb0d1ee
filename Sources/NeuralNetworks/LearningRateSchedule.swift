import Foundation

/// A learning rate as a function of the optimiser step.
///
/// `step` counts the optimiser steps taken before the one the rate is for, so the first
/// step uses `learningRate(atStep: 0)`. A training loop sets
/// `optimizer.learningRate = Scalar(schedule.learningRate(atStep: optimizer.stepCount))`
/// before each `step()`.
public protocol LearningRateSchedule: Sendable {
    func learningRate(atStep step: Int) -> Double
}

/// The same rate at every step: `lr(s) = rate`.
public struct ConstantLearningRate: LearningRateSchedule {
    public let rate: Double

    public init(_ rate: Double) {
        precondition(rate >= 0, "ConstantLearningRate: rate \(rate) must be non-negative")
        self.rate = rate
    }

    public func learningRate(atStep step: Int) -> Double { rate }
}

/// A linear ramp from `initialRate` to `finalRate` over `decaySteps` steps, then constant:
/// `lr(s) = initialRate + (finalRate - initialRate) · min(s, decaySteps) / decaySteps`.
public struct LinearDecay: LearningRateSchedule {
    public let initialRate: Double
    public let finalRate: Double
    public let decaySteps: Int

    public init(initialRate: Double, finalRate: Double = 0, decaySteps: Int) {
        precondition(
            initialRate >= 0 && finalRate >= 0,
            "LinearDecay: rates \(initialRate) and \(finalRate) must be non-negative")
        precondition(decaySteps > 0, "LinearDecay: decaySteps \(decaySteps) must be positive")
        self.initialRate = initialRate
        self.finalRate = finalRate
        self.decaySteps = decaySteps
    }

    public func learningRate(atStep step: Int) -> Double {
        let fraction = Double(Swift.min(Swift.max(step, 0), decaySteps)) / Double(decaySteps)
        return initialRate + (finalRate - initialRate) * fraction
    }
}

/// Cosine annealing (Loshchilov and Hutter, SGDR, without restarts) from `initialRate`
/// to `finalRate` over `decaySteps` steps, then constant:
/// `lr(s) = finalRate + ½ (initialRate - finalRate)(1 + cos(π min(s, decaySteps) / decaySteps))`.
public struct CosineDecay: LearningRateSchedule {
    public let initialRate: Double
    public let finalRate: Double
    public let decaySteps: Int

    public init(initialRate: Double, finalRate: Double = 0, decaySteps: Int) {
        precondition(
            initialRate >= 0 && finalRate >= 0,
            "CosineDecay: rates \(initialRate) and \(finalRate) must be non-negative")
        precondition(decaySteps > 0, "CosineDecay: decaySteps \(decaySteps) must be positive")
        self.initialRate = initialRate
        self.finalRate = finalRate
        self.decaySteps = decaySteps
    }

    public func learningRate(atStep step: Int) -> Double {
        let fraction = Double(Swift.min(Swift.max(step, 0), decaySteps)) / Double(decaySteps)
        return finalRate + 0.5 * (initialRate - finalRate) * (1 + Foundation.cos(Double.pi * fraction))
    }
}

/// A linear warm-up of `warmupSteps` steps in front of another schedule:
/// `lr(s) = base(0) · (s + 1) / warmupSteps` for `s < warmupSteps`, then
/// `lr(s) = base(s - warmupSteps)`.
///
/// The ramp reaches the base schedule's initial rate at its last step, `s = warmupSteps - 1`,
/// and the base schedule then starts from its own step 0, so a decay keeps its full length.
public struct LinearWarmup<Base: LearningRateSchedule>: LearningRateSchedule {
    public let warmupSteps: Int
    public let base: Base

    public init(warmupSteps: Int, then base: Base) {
        precondition(warmupSteps > 0, "LinearWarmup: warmupSteps \(warmupSteps) must be positive")
        self.warmupSteps = warmupSteps
        self.base = base
    }

    public func learningRate(atStep step: Int) -> Double {
        if step < warmupSteps {
            return base.learningRate(atStep: 0) * Double(Swift.max(step, 0) + 1) / Double(warmupSteps)
        }
        return base.learningRate(atStep: step - warmupSteps)
    }
}

extension LearningRateSchedule {
    /// Returns this schedule behind a linear warm-up of `steps` steps.
    public func withLinearWarmup(steps: Int) -> LinearWarmup<Self> {
        LinearWarmup(warmupSteps: steps, then: self)
    }
}
