import Foundation

/// A new, uniquely named folder for the outputs of one run, such as `runs/demo-20261204-201500`.
enum RunFolder {
    static func create(in parent: URL, prefix: String) throws -> URL {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let stamp = formatter.string(from: Date())
        let manager = FileManager.default
        try manager.createDirectory(at: parent, withIntermediateDirectories: true)
        for attempt in 0..<1000 {
            let name = attempt == 0 ? "\(prefix)-\(stamp)" : "\(prefix)-\(stamp)-\(attempt)"
            let folder = parent.appendingPathComponent(name)
            // createDirectory without intermediates fails when the folder exists, so two runs
            // started in the same second get different folders.
            do {
                try manager.createDirectory(at: folder, withIntermediateDirectories: false)
                return folder
            } catch CocoaError.fileWriteFileExists {
                continue
            }
        }
        throw CocoaError(.fileWriteFileExists, userInfo: [NSFilePathErrorKey: parent.path])
    }
}
