/// The options of one subcommand, parsed from `--name value`, `--name=value` and
/// boolean `--flag` arguments. Unknown options, missing values and malformed numbers are
/// reported by name with a hint to run `--help`. A value may not be empty or start with
/// `--`, so that `--output --json` is rejected instead of writing into a folder `--json`.
struct CommandLineOptions {
    let command: String
    private var values: [String: [String]] = [:]
    private var flags: Set<String> = []

    /// Parses `arguments` against the options the subcommand declares: `valued` take a
    /// value and may repeat, `boolean` take none.
    init(command: String, arguments: [String], valued: Set<String>, boolean: Set<String>) throws {
        self.command = command
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            guard argument.hasPrefix("--") else {
                throw CommandLineError.unexpectedArgument(command: command, argument: argument)
            }
            var name = String(argument.dropFirst(2))
            var inlineValue: String?
            if let equals = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }

            if boolean.contains(name) {
                guard inlineValue == nil else {
                    throw CommandLineError.invalidValue(command: command, option: name, value: inlineValue!, expected: "no value")
                }
                flags.insert(name)
            } else if valued.contains(name) {
                let value: String
                if let inlineValue {
                    value = inlineValue
                } else {
                    index += 1
                    guard index < arguments.count else {
                        throw CommandLineError.missingValue(command: command, option: name)
                    }
                    value = arguments[index]
                    guard !value.hasPrefix("--") else {
                        throw CommandLineError.optionAsValue(command: command, option: name, value: value)
                    }
                }
                guard !value.isEmpty else {
                    throw CommandLineError.invalidValue(command: command, option: name, value: value, expected: "a non-empty value")
                }
                values[name, default: []].append(value)
            } else {
                throw CommandLineError.unknownOption(command: command, option: name)
            }
            index += 1
        }
    }

    func flag(_ name: String) -> Bool {
        flags.contains(name)
    }

    func string(_ name: String) -> String? {
        values[name]?.last
    }

    func strings(_ name: String) -> [String] {
        values[name] ?? []
    }

    func int(_ name: String, default defaultValue: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = string(name) else { return defaultValue }
        guard let value = Int(text), range.contains(value) else {
            throw CommandLineError.invalidValue(
                command: command, option: name, value: text,
                expected: "an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    func double(_ name: String, default defaultValue: Double, range: ClosedRange<Double>) throws -> Double {
        guard let text = string(name) else { return defaultValue }
        guard let value = Double(text), value.isFinite, range.contains(value) else {
            throw CommandLineError.invalidValue(
                command: command, option: name, value: text,
                expected: "a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }
}

enum CommandLineError: Error, CustomStringConvertible {
    case unknownCommand(String)
    case unknownOption(command: String, option: String)
    case unexpectedArgument(command: String, argument: String)
    case missingValue(command: String, option: String)
    case invalidValue(command: String, option: String, value: String, expected: String)
    case optionAsValue(command: String, option: String, value: String)

    var description: String {
        switch self {
        case .unknownCommand(let name):
            return "unknown command '\(name)'; run 'deft --help' for the list of commands"
        case .unknownOption(let command, let option):
            return "unknown option '--\(option)' for 'deft \(command)'; run 'deft \(command) --help'"
        case .unexpectedArgument(let command, let argument):
            return "unexpected argument '\(argument)' for 'deft \(command)'; options start with '--'"
        case .missingValue(let command, let option):
            return "option '--\(option)' of 'deft \(command)' needs a value"
        case .invalidValue(let command, let option, let value, let expected):
            return "invalid value '\(value)' for '--\(option)' of 'deft \(command)': expected \(expected)"
        case .optionAsValue(let command, let option, let value):
            return "option '--\(option)' of 'deft \(command)' needs a value, but the next argument is the option '\(value)'; "
                + "write --\(option) VALUE, or --\(option)=VALUE for a value that starts with '--'"
        }
    }
}
