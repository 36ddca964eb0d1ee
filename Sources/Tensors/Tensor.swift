/// An n-dimensional array of `Float` or `Double` with value semantics.
///
/// Elements are stored contiguously in row-major order. Copies share storage until one
/// of them is mutated (copy-on-write). A tensor of rank 0 contains one scalar.
public struct Tensor<Scalar: TensorScalar>: @unchecked Sendable {
    /// The extent of each dimension, outermost first.
    public private(set) var shape: [Int]
    @usableFromInline var storage: TensorStorage<Scalar>

    /// Creates a tensor of `shape` with every element set to `value`.
    public init(shape: [Int], repeating value: Scalar) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor shape \(shape) has a negative extent")
        self.shape = shape
        storage = TensorStorage(count: shape.reduce(1, *))
        withUnsafePointer(to: value) { element in
            let stride = MemoryLayout<Scalar>.stride
            fillRepeating(
                UnsafeMutableRawPointer(storage.pointer), pattern: UnsafeRawPointer(element), patternBytes: stride,
                totalBytes: storage.count * stride)
        }
    }

    /// Creates a tensor of zeros.
    public init(zeros shape: [Int]) {
        self.init(shape: shape, repeating: 0)
    }

    /// Creates a tensor from row-major scalars, whose count must match the shape.
    public init(shape: [Int], scalars: [Scalar]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor shape \(shape) has a negative extent")
        precondition(
            shape.reduce(1, *) == scalars.count,
            "Tensor shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.shape = shape
        storage = TensorStorage(count: scalars.count)
        scalars.withUnsafeBufferPointer { storage.pointer.initialize(from: $0.baseAddress!, count: scalars.count) }
    }

    /// Creates a rank-0 tensor.
    public init(_ scalar: Scalar) {
        self.init(shape: [], scalars: [scalar])
    }

    /// Creates a rank-1 tensor.
    public init(_ scalars: [Scalar]) {
        self.init(shape: [scalars.count], scalars: scalars)
    }

    /// Creates a tensor of `shape` whose elements are written by `body` into
    /// uninitialised storage; `body` must write every element.
    public init(shape: [Int], unsafeUninitializedScalars body: (UnsafeMutableBufferPointer<Scalar>) -> Void) {
        self.shape = shape
        storage = TensorStorage(count: shape.reduce(1, *))
        body(UnsafeMutableBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// Converts a tensor of another scalar type.
    public init<Other: TensorScalar>(_ other: Tensor<Other>) {
        self.init(shape: other.shape) { output in
            other.withUnsafeBufferPointer { input in
                for i in 0..<input.count { output[i] = Scalar(input[i]) }
            }
        }
    }

    public var rank: Int { shape.count }
    public var scalarCount: Int { storage.count }

    /// The elements in row-major order.
    public var scalars: [Scalar] {
        withUnsafeBufferPointer { Array($0) }
    }

    /// The single element of a tensor with one element.
    public var scalar: Scalar {
        precondition(scalarCount == 1, "Tensor of shape \(shape) has \(scalarCount) elements, not one")
        return storage.pointer[0]
    }

    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Scalar>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.pointer, count: storage.count))
    }

    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Scalar>) throws -> R) rethrows -> R {
        if !isKnownUniquelyReferenced(&storage) {
            storage = storage.copy()
        }
        return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// Accesses the element at a multi-index, one index per dimension.
    public subscript(indices: Int...) -> Scalar {
        get { storage.pointer[flatIndex(indices)] }
        set {
            let offset = flatIndex(indices)
            withUnsafeMutableBufferPointer { $0[offset] = newValue }
        }
    }

    func flatIndex(_ indices: [Int]) -> Int {
        precondition(indices.count == rank, "Index \(indices) has \(indices.count) components for a tensor of rank \(rank)")
        var offset = 0
        for (axis, index) in indices.enumerated() {
            precondition(index >= 0 && index < shape[axis], "Index \(indices) is out of bounds for shape \(shape)")
            offset = offset * shape[axis] + index
        }
        return offset
    }

    /// Returns the same elements viewed with another shape of equal element count; one
    /// extent may be -1 and is then inferred.
    public func reshaped(to newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != inferred }.map(\.element).reduce(1, *)
            precondition(known > 0 && scalarCount % known == 0, "Cannot reshape tensor of shape \(shape) to \(newShape)")
            resolved[inferred] = scalarCount / known
        }
        precondition(
            resolved.reduce(1, *) == scalarCount && resolved.allSatisfy { $0 >= 0 },
            "Cannot reshape tensor of shape \(shape) (\(scalarCount) elements) to \(newShape)")
        var result = self
        result.shape = resolved
        return result
    }
}

/// Aligned, reference-counted element storage.
@usableFromInline
final class TensorStorage<Scalar>: @unchecked Sendable {
    @usableFromInline let pointer: UnsafeMutablePointer<Scalar>
    @usableFromInline let count: Int

    init(count: Int) {
        _ = MemoryReuse.configured
        self.count = count
        // 64-byte alignment keeps vector loads and BLAS panels on cache-line boundaries.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(count, 1) * MemoryLayout<Scalar>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Scalar.self, capacity: Swift.max(count, 1))
    }

    @usableFromInline
    func copy() -> TensorStorage {
        let result = TensorStorage(count: count)
        result.pointer.initialize(from: pointer, count: count)
        return result
    }

    deinit {
        UnsafeMutableRawPointer(pointer).deallocate()
    }
}

extension Tensor: Equatable {
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        lhs.shape == rhs.shape && lhs.withUnsafeBufferPointer { a in rhs.withUnsafeBufferPointer { b in a.elementsEqual(b) } }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shown = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor<\(Scalar.self)>(shape: \(shape), [\(shown)\(scalarCount > 8 ? ", …" : "")])"
    }
}

/// Fills `totalBytes` at `destination` with copies of the `patternBytes` at `pattern`
/// (the last copy cut short if needed), doubling the filled span with each raw copy. A
/// typed fill in generic code that callers in other modules do not specialise writes
/// element by element through the type's value witness, many times slower.
func fillRepeating(_ destination: UnsafeMutableRawPointer, pattern: UnsafeRawPointer, patternBytes: Int, totalBytes: Int) {
    guard totalBytes > 0 else { return }
    destination.copyMemory(from: pattern, byteCount: Swift.min(patternBytes, totalBytes))
    var filled = Swift.min(patternBytes, totalBytes)
    while filled < totalBytes {
        let count = Swift.min(filled, totalBytes - filled)
        (destination + filled).copyMemory(from: destination, byteCount: count)
        filled += count
    }
}
