import Foundation
import XCTest
import Tensors

final class BLASRuntimeTests: XCTestCase {
    /// On a CPU with AVX2 and FMA, OpenBLAS must not run its SSE3 (Prescott) kernels,
    /// unless the environment chose a core type.
    func testKernelsMatchCPUFeatures() throws {
        let environment = ProcessInfo.processInfo.environment
        try XCTSkipIf(environment["OPENBLAS_CORETYPE"] != nil, "OPENBLAS_CORETYPE chooses the kernels")
        try XCTSkipIf(environment["DEFT_KEEP_OPENBLAS_CORE"] != nil, "DEFT_KEEP_OPENBLAS_CORE keeps OpenBLAS's choice")
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        try XCTSkipUnless(flags.contains(" avx2") && flags.contains(" fma"), "the CPU has no AVX2 and FMA")
        XCTAssertNotEqual(BLASRuntime.coreName.lowercased(), "prescott")
    }

    /// Products agree with a naive loop after the kernel switch, in both precisions.
    func testProductAfterKernelSwitch() {
        _ = BLASRuntime.coreName
        let a = testTensor([37, 53])
        let b = testTensor([53, 29], seed: 2)
        let product = matmul(a, b)
        let floatProduct = matmul(Tensor<Float>(a), Tensor<Float>(b))
        for i in 0..<37 {
            for j in 0..<29 {
                let expected = (0..<53).reduce(0.0) { $0 + a[i, $1] * b[$1, j] }
                XCTAssertEqual(product[i, j], expected, accuracy: 1e-13)
                XCTAssertEqual(Double(floatProduct[i, j]), expected, accuracy: 1e-4)
            }
        }
    }
}
