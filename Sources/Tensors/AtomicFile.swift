import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error from `writeAtomically(_:to:)`: the step that failed, the path and the
/// system error number.
public struct FileWriteError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file that was being written.
    public var path: String
    /// The step that failed, such as "create a temporary file" or "rename the temporary file".
    public var step: String
    /// The `errno` value that the failing system call set.
    public var code: Int32

    public init(path: String, step: String, code: Int32) {
        self.path = path
        self.step = step
        self.code = code
    }

    public var description: String {
        "\(path): write failed: could not \(step): \(String(cString: strerror(code))) (errno \(code))"
    }
}

/// Writes `data` to `url` so that readers see either the old file or the complete new
/// one, never a partial file.
///
/// The bytes go to a temporary file in the same directory, which is flushed to disk with
/// `fsync` and then renamed over `url`. POSIX `rename` replaces the target atomically. After the rename the directory is synced too, so that the rename itself
/// survives a crash. On any failure the temporary file is removed, the old file at `url`
/// is left unchanged and a `FileWriteError` is thrown.
///
/// A new file gets mode `0666` masked by the process umask. A file that is replaced keeps
/// its permission bits. A symbolic link at `url` is replaced by a regular file, not
/// followed.
public func writeAtomically(_ data: Data, to url: URL) throws {
    let path = url.path
    let directory = url.deletingLastPathComponent().path
    let (descriptor, temporaryPath) = try createTemporaryFile(nextTo: url)
    var isOpen = true
    var succeeded = false
    defer {
        if isOpen { close(descriptor) }
        if !succeeded { unlink(temporaryPath) }
    }

    var targetStatus = stat()
    if lstat(path, &targetStatus) == 0, (targetStatus.st_mode & S_IFMT) == S_IFREG {
        guard fchmod(descriptor, targetStatus.st_mode & 0o7777) == 0 else {
            throw FileWriteError(path: path, step: "copy the permissions of the existing file", code: errno)
        }
    }

    try data.withUnsafeBytes { bytes in
        var written = 0
        while written < bytes.count {
            let result = write(descriptor, bytes.baseAddress! + written, bytes.count - written)
            if result < 0 {
                if errno == EINTR { continue }
                throw FileWriteError(path: path, step: "write \(bytes.count) bytes to \(temporaryPath)", code: errno)
            }
            written += result
        }
    }

    guard fsync(descriptor) == 0 else {
        throw FileWriteError(path: path, step: "fsync \(temporaryPath)", code: errno)
    }
    isOpen = false
    guard close(descriptor) == 0 else {
        throw FileWriteError(path: path, step: "close \(temporaryPath)", code: errno)
    }

    guard rename(temporaryPath, path) == 0 else {
        throw FileWriteError(path: path, step: "rename \(temporaryPath) over it", code: errno)
    }
    succeeded = true

    // The new file is complete and in place, so a failure here only weakens durability
    // across a power loss; it is not reported.
    let directoryDescriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if directoryDescriptor >= 0 {
        _ = fsync(directoryDescriptor)
        close(directoryDescriptor)
    }
}

/// Creates a new, empty file named `.<name>.tmp-<pid>-<random>` in the directory of `url`
/// with `O_EXCL`, so that concurrent writers never share a temporary file.
private func createTemporaryFile(nextTo url: URL) throws -> (descriptor: Int32, path: String) {
    let directory = url.deletingLastPathComponent().path
    let prefix = (directory.isEmpty ? "." : directory) + "/." + url.lastPathComponent + ".tmp-\(getpid())-"
    var lastError: Int32 = EEXIST
    for _ in 0..<16 {
        let candidate = prefix + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let descriptor = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        if descriptor >= 0 {
            return (descriptor, candidate)
        }
        lastError = errno
        if lastError != EEXIST && lastError != EINTR { break }
    }
    throw FileWriteError(path: url.path, step: "create a temporary file in \(directory)", code: lastError)
}
