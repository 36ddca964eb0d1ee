import Foundation

/// A new, uniquely named folder for the outputs of one run, such as `runs/demo-20261204-201500`.
enum RunFolder {
    /// Creates the run folder under `parent`, creating `parent` too if needed.
    ///
    /// Throws `RunFolderError`, which names `--option` and its value, when `parent` exists
    /// but is not a folder, is not writable or cannot be created.
    static func create(in parent: URL, prefix: String, option: String = "output") throws -> URL {
        let manager = FileManager.default
        let value = parent.relativePath
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: parent.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw RunFolderError(option: option, value: value, problem: "exists and is not a folder")
            }
        } else {
            do {
                try manager.createDirectory(at: parent, withIntermediateDirectories: true)
            } catch {
                throw RunFolderError(
                    option: option, value: value, problem: "cannot be created (\(reason(error)))")
            }
        }
        guard manager.isWritableFile(atPath: parent.path) else {
            throw RunFolderError(option: option, value: value, problem: "is a folder that is not writable")
        }

        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let stamp = formatter.string(from: Date())
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
            } catch {
                throw RunFolderError(option: option, value: value, problem: "has no room for a new folder \(name) (\(reason(error)))")
            }
        }
        throw RunFolderError(option: option, value: value, problem: "already has 1000 folders named \(prefix)-\(stamp)-*")
    }

    /// Removes a run folder that a failed run left empty, so that no empty folders pile up.
    static func removeIfEmpty(_ folder: URL) {
        let manager = FileManager.default
        if let contents = try? manager.contentsOfDirectory(atPath: folder.path), contents.isEmpty {
            try? manager.removeItem(at: folder)
        }
    }

    /// Returns the operating system's reason for a failed file operation, without Foundation's error domain and code.
    private static func reason(_ error: Error) -> String {
        let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
        if let underlying, underlying.domain == NSPOSIXErrorDomain, let message = strerror(Int32(underlying.code)) {
            return String(cString: message)
        }
        return (error as NSError).localizedDescription
    }
}

/// An output folder that a run cannot write into.
struct RunFolderError: Error, CustomStringConvertible {
    let option: String
    let value: String
    let problem: String

    var description: String {
        "--\(option) '\(value)' \(problem); pass a writable folder, or a path where a new folder can be created"
    }
}
