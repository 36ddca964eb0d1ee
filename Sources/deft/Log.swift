import Foundation

/// Progress and diagnostics go to standard error, so standard output carries only results.
enum Log {
    nonisolated(unsafe) static var isQuiet = false

    static func info(_ message: String) {
        guard !isQuiet else { return }
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
