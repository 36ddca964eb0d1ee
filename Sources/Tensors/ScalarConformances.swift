import CBLAS
import Foundation

/// The variant of the C element kernels this CPU runs: 2 for AVX-512, 1 for AVX2 with FMA, 0 for the baseline.
let elementKernelLevel = deft_element_kernel_level()

extension Float: TensorScalar {
    public static var dtypeName: String { "F32" }

    @inlinable public static func exp(_ x: Float) -> Float { Foundation.expf(x) }
    @inlinable public static func log(_ x: Float) -> Float { Foundation.logf(x) }
    @inlinable public static func tanh(_ x: Float) -> Float { Foundation.tanhf(x) }
    @inlinable public static func sin(_ x: Float) -> Float { Foundation.sinf(x) }
    @inlinable public static func cos(_ x: Float) -> Float { Foundation.cosf(x) }
    @inlinable public static func pow(_ x: Float, _ y: Float) -> Float { Foundation.powf(x, y) }

    public static func apply(_ function: UnaryFunction, _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int) {
        // The activations built on tanh run as C compiled for the CPU's vector width
        // (element_kernels.h); they return the same bits as `applyUnary`.
        let level = elementKernelLevel
        switch function {
        case .tanh: deft_tanh_f32(level, input, output, count)
        case .sigmoid: deft_sigmoid_f32(level, input, output, count)
        case .silu: deft_silu_f32(level, input, output, count)
        default: applyUnary(function, input, output, count: count, tanh: fastTanh)
        }
    }

    public static func apply(
        _ function: BinaryFunction, _ lhs: UnsafePointer<Float>, _ rhs: UnsafePointer<Float>,
        _ output: UnsafeMutablePointer<Float>, layout: BroadcastLayout
    ) {
        // Activation pullbacks on operands of equal shape run as C, like the unary activations.
        if layout.extents.count == 1 && layout.lhsStrides[0] == 1 && layout.rhsStrides[0] == 1 {
            let (level, count) = (elementKernelLevel, layout.extents[0])
            switch function {
            case .siluBackward: return deft_silu_backward_f32(level, lhs, rhs, output, count)
            case .sigmoidBackward: return deft_sigmoid_backward_f32(level, lhs, rhs, output, count)
            case .softplusBackward: return deft_softplus_backward_f32(level, lhs, rhs, output, count)
            default: break
            }
        }
        applyBinary(function, lhs, rhs, output, layout: layout, tanh: fastTanh)
    }

    public static func sum(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, outer: Int, reduced: Int, inner: Int) {
        sumKernel(input, output, outer: outer, reduced: reduced, inner: inner)
    }

    public static func max(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, outer: Int, reduced: Int, inner: Int) {
        maxKernel(input, output, outer: outer, reduced: reduced, inner: inner)
    }

    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        _ = BLASRuntime.configured
        splitGEMM(
            transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc
        ) { m, n, a, b, c in
            cblas_sgemm(
                CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
        }
    }

    public static func axpy(count: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(blasint(count), alpha, x, 1, y, 1)
    }

    public static func multiplyAdd(
        _ base: UnsafePointer<Float>, _ scaled: UnsafePointer<Float>, alpha: Float, _ added: UnsafePointer<Float>,
        _ output: UnsafeMutablePointer<Float>, count: Int
    ) {
        multiplyAddKernel(base, scaled, alpha: alpha, added, output, count: count)
    }

    public static func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        cblas_sdot(blasint(count), x, 1, y, 1)
    }
}

extension Double: TensorScalar {
    public static var dtypeName: String { "F64" }

    @inlinable public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    @inlinable public static func log(_ x: Double) -> Double { Foundation.log(x) }
    @inlinable public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    @inlinable public static func sin(_ x: Double) -> Double { Foundation.sin(x) }
    @inlinable public static func cos(_ x: Double) -> Double { Foundation.cos(x) }
    @inlinable public static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }

    // Double keeps libm's tanh: Double is the type of gradient checks, where accuracy
    // matters more than speed.
    public static func apply(_ function: UnaryFunction, _ input: UnsafePointer<Double>, _ output: UnsafeMutablePointer<Double>, count: Int) {
        applyUnary(function, input, output, count: count, tanh: Foundation.tanh)
    }

    public static func apply(
        _ function: BinaryFunction, _ lhs: UnsafePointer<Double>, _ rhs: UnsafePointer<Double>,
        _ output: UnsafeMutablePointer<Double>, layout: BroadcastLayout
    ) {
        applyBinary(function, lhs, rhs, output, layout: layout, tanh: Foundation.tanh)
    }

    public static func sum(_ input: UnsafePointer<Double>, _ output: UnsafeMutablePointer<Double>, outer: Int, reduced: Int, inner: Int) {
        sumKernel(input, output, outer: outer, reduced: reduced, inner: inner)
    }

    public static func max(_ input: UnsafePointer<Double>, _ output: UnsafeMutablePointer<Double>, outer: Int, reduced: Int, inner: Int) {
        maxKernel(input, output, outer: outer, reduced: reduced, inner: inner)
    }

    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Double, a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        _ = BLASRuntime.configured
        splitGEMM(
            transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc
        ) { m, n, a, b, c in
            cblas_dgemm(
                CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
        }
    }

    public static func axpy(count: Int, alpha: Double, x: UnsafePointer<Double>, y: UnsafeMutablePointer<Double>) {
        cblas_daxpy(blasint(count), alpha, x, 1, y, 1)
    }

    public static func multiplyAdd(
        _ base: UnsafePointer<Double>, _ scaled: UnsafePointer<Double>, alpha: Double, _ added: UnsafePointer<Double>,
        _ output: UnsafeMutablePointer<Double>, count: Int
    ) {
        multiplyAddKernel(base, scaled, alpha: alpha, added, output, count: count)
    }

    public static func dot(count: Int, _ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>) -> Double {
        cblas_ddot(blasint(count), x, 1, y, 1)
    }
}
