// Differentiable element-wise arithmetic and functions. Each pullback states the
// derivative it applies; broadcast inputs get their cotangent summed back to shape.

extension Variable {
    public static func + (lhs: Variable, rhs: Variable) -> Variable {
        let (lhsShape, rhsShape) = (lhs.shape, rhs.shape)
        return Variable(value: lhs.value + rhs.value, parents: [lhs, rhs]) { dy in
            [dy.sumToShape(lhsShape), dy.sumToShape(rhsShape)]
        }
    }

    public static func - (lhs: Variable, rhs: Variable) -> Variable {
        let (lhsShape, rhsShape) = (lhs.shape, rhs.shape)
        return Variable(value: lhs.value - rhs.value, parents: [lhs, rhs]) { dy in
            [dy.sumToShape(lhsShape), (-dy).sumToShape(rhsShape)]
        }
    }

    public static func * (lhs: Variable, rhs: Variable) -> Variable {
        let (a, b) = (lhs.value, rhs.value)
        return Variable(value: a * b, parents: [lhs, rhs]) { dy in
            [lhs.requiresGrad ? (dy * b).sumToShape(a.shape) : nil,
             rhs.requiresGrad ? (dy * a).sumToShape(b.shape) : nil]
        }
    }

    public static func / (lhs: Variable, rhs: Variable) -> Variable {
        let (a, b) = (lhs.value, rhs.value)
        let y = a / b
        // d(a/b)/da = 1/b, d(a/b)/db = -a/b² = -y/b.
        return Variable(value: y, parents: [lhs, rhs]) { dy in
            let dyOverB = dy / b
            return [lhs.requiresGrad ? dyOverB.sumToShape(a.shape) : nil,
                    rhs.requiresGrad ? (-(dyOverB * y)).sumToShape(b.shape) : nil]
        }
    }

    public static prefix func - (x: Variable) -> Variable {
        Variable(value: -x.value, parents: [x]) { dy in [-dy] }
    }

    public static func + (lhs: Variable, rhs: Scalar) -> Variable {
        Variable(value: lhs.value + rhs, parents: [lhs]) { dy in [dy] }
    }

    public static func - (lhs: Variable, rhs: Scalar) -> Variable {
        Variable(value: lhs.value - rhs, parents: [lhs]) { dy in [dy] }
    }

    public static func * (lhs: Variable, rhs: Scalar) -> Variable {
        Variable(value: lhs.value * rhs, parents: [lhs]) { dy in [dy * rhs] }
    }

    public static func / (lhs: Variable, rhs: Scalar) -> Variable {
        lhs * (1 / rhs)
    }

    public static func + (lhs: Scalar, rhs: Variable) -> Variable { rhs + lhs }
    public static func * (lhs: Scalar, rhs: Variable) -> Variable { rhs * lhs }
    public static func - (lhs: Scalar, rhs: Variable) -> Variable { -rhs + lhs }

    public static func + (lhs: Variable, rhs: Tensor<Scalar>) -> Variable { lhs + Variable(rhs) }
    public static func - (lhs: Variable, rhs: Tensor<Scalar>) -> Variable { lhs - Variable(rhs) }
    public static func * (lhs: Variable, rhs: Tensor<Scalar>) -> Variable { lhs * Variable(rhs) }
    public static func / (lhs: Variable, rhs: Tensor<Scalar>) -> Variable { lhs / Variable(rhs) }
}

/// exp: dy · exp(x).
public func exp<Scalar>(_ x: Variable<Scalar>) -> Variable<Scalar> {
    let y = exp(x.value)
    return Variable(value: y, parents: [x]) { dy in [dy * y] }
}

/// log: dy / x.
public func log<Scalar>(_ x: Variable<Scalar>) -> Variable<Scalar> {
    Variable(value: log(x.value), parents: [x]) { dy in [dy / x.value] }
}

/// sqrt: dy / (2 √x).
public func sqrt<Scalar>(_ x: Variable<Scalar>) -> Variable<Scalar> {
    let y = sqrt(x.value)
    return Variable(value: y, parents: [x]) { dy in [dy / (y * 2)] }
}

/// square: 2 x dy.
public func square<Scalar>(_ x: Variable<Scalar>) -> Variable<Scalar> {
    Variable(value: square(x.value), parents: [x]) { dy in [dy * x.value * 2] }
}

/// tanh: dy (1 - tanh²x).
public func tanh<Scalar>(_ x: Variable<Scalar>) -> Variable<Scalar> {
    let y = tanh(x.value)
    return Variable(value: y, parents: [x]) { dy in [y.applying(.tanhBackward, dy)] }
}

/// sigmoid: dy σ(x)(1 - σ(x)).
public func sigmoid<Scalar>(_ x: Variable<Scalar>) -> Variable<Scalar> {
    Variable(value: sigmoid(x.value), parents: [x]) { dy in [x.value.applying(.sigmoidBackward, dy)] }
}

/// SiLU, x σ(x): dy σ(x)(1 + x(1 - σ(x))).
public func silu<Scalar>(_ x: Variable<Scalar>) -> Variable<Scalar> {
    Variable(value: silu(x.value), parents: [x]) { dy in [x.value.applying(.siluBackward, dy)] }
}

/// ReLU: dy where x > 0, else 0.
public func relu<Scalar>(_ x: Variable<Scalar>) -> Variable<Scalar> {
    Variable(value: relu(x.value), parents: [x]) { dy in [x.value.applying(.reluBackward, dy)] }
}

/// softplus, log(1 + eˣ): dy σ(x).
public func softplus<Scalar>(_ x: Variable<Scalar>) -> Variable<Scalar> {
    Variable(value: softplus(x.value), parents: [x]) { dy in [x.value.applying(.softplusBackward, dy)] }
}

/// sin: dy cos x.
public func sin<Scalar>(_ x: Variable<Scalar>) -> Variable<Scalar> {
    Variable(value: sin(x.value), parents: [x]) { dy in [dy * cos(x.value)] }
}

/// cos: -dy sin x.
public func cos<Scalar>(_ x: Variable<Scalar>) -> Variable<Scalar> {
    Variable(value: cos(x.value), parents: [x]) { dy in [-(dy * sin(x.value))] }
}
