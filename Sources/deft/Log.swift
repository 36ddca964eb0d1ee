import Foundation

/// Progress and diagnostics go to standard error, so standard output carries only results.
enum Log {
    nonisolated(unsafe) static var isQuiet = false

    static func info(_ message: String) {
        guard !isQuiet else { return }
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    /// Writes `deft: warning: message` to standard error, also under --quiet, because a
    /// warning flags a result that the caller should not trust.
    static func warning(_ message: String) {
        FileHandle.standardError.write(Data("deft: warning: \(message)\n".utf8))
    }
}
