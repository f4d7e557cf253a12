import Yams

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A configuration file parsed into a YAML node tree (JSON is YAML too), with `${NAME}` and
/// `${NAME:-default}` replaced from the environment so secrets stay out of the file.
public struct ConfigurationDocument {
    /// The root node after substitution.
    public var root: Node
    /// Where it came from, for messages.
    public var origin: String

    /// Parses `text`; problems go to `diagnostics` and nil is returned when nothing usable remains.
    public static func parse(
        _ text: String,
        origin: String,
        environment: [String: String],
        diagnostics: ConfigurationDiagnostics
    ) -> ConfigurationDocument? {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            diagnostics.record(
                TrawlError(.configurationSyntax, Self.describe(error), location: origin)
            )
            return nil
        } catch {
            diagnostics.record(TrawlError(.configurationSyntax, "\(error)", location: origin))
            return nil
        }
        guard let node else {
            diagnostics.record(
                TrawlError(.configurationSyntax, "the file is empty", location: origin, fix: "Write the configuration.")
            )
            return nil
        }
        let substituted = Self.substitute(node, path: "", environment: environment, diagnostics: diagnostics)
        return ConfigurationDocument(root: substituted, origin: origin)
    }

    /// Reads and parses the file at `path`.
    public static func load(
        path: String,
        environment: [String: String],
        diagnostics: ConfigurationDiagnostics
    ) -> ConfigurationDocument? {
        guard let bytes = readWholeFile(path) else {
            diagnostics.record(
                TrawlError(
                    .configurationUnreadable,
                    "the configuration file cannot be read: \(errnoDescription())",
                    location: path
                )
            )
            return nil
        }
        return Self.parse(
            String(decoding: bytes, as: UTF8.self),
            origin: path,
            environment: environment,
            diagnostics: diagnostics
        )
    }

    private static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _):
            let detail = context.map { "\($0.text) " } ?? ""
            return "\(detail)\(problem) at line \(mark.line), column \(mark.column)"
        default:
            return "\(error)"
        }
    }

    private static func substitute(
        _ node: Node,
        path: String,
        environment: [String: String],
        diagnostics: ConfigurationDiagnostics
    ) -> Node {
        switch node {
        case .scalar(let scalar):
            guard scalar.string.contains("${") else { return node }
            var output = ""
            var rest = Substring(scalar.string)
            while let start = rest.firstRange(of: "${") {
                output += rest[..<start.lowerBound]
                guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                    output += rest[start.lowerBound...]
                    rest = ""
                    break
                }
                let expression = rest[start.upperBound..<end]
                let name: Substring
                let fallback: Substring?
                if let dash = expression.firstRange(of: ":-") {
                    name = expression[..<dash.lowerBound]
                    fallback = expression[dash.upperBound...]
                } else {
                    name = expression
                    fallback = nil
                }
                if let value = environment[String(name)] {
                    output += value
                } else if let fallback {
                    output += fallback
                } else {
                    diagnostics.record(
                        TrawlError(
                            .environmentVariableMissing,
                            "environment variable \(name) is not set",
                            location: path + lineSuffix(node)
                        )
                    )
                }
                rest = rest[rest.index(after: end)...]
            }
            output += rest
            var replaced = scalar
            replaced.string = output
            return .scalar(replaced)
        case .mapping(var mapping):
            var pairs: [(Node, Node)] = []
            for (key, value) in mapping {
                let child = path.isEmpty ? (key.string ?? "?") : "\(path).\(key.string ?? "?")"
                pairs.append(
                    (key, Self.substitute(value, path: child, environment: environment, diagnostics: diagnostics))
                )
            }
            let rebuilt = Node.Mapping(pairs, mapping.tag, mapping.style, mapping.mark)
            mapping = rebuilt
            return .mapping(mapping)
        case .sequence(let sequence):
            var nodes: [Node] = []
            for (index, value) in sequence.enumerated() {
                nodes.append(
                    Self.substitute(
                        value,
                        path: "\(path)[\(index)]",
                        environment: environment,
                        diagnostics: diagnostics
                    )
                )
            }
            return .sequence(Node.Sequence(nodes, sequence.tag, sequence.style, sequence.mark))
        case .alias:
            return node
        }
    }
}

/// Reads a whole file without Foundation; nil when it cannot be opened or read.
public func readWholeFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var status = stat()
    if fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR {
        errno = EISDIR
        return nil
    }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            return nil
        }
        if count == 0 { return bytes }
        bytes.append(contentsOf: chunk[0..<count])
    }
}

/// The names of the entries of a directory (without `.` and `..`), or nil when it cannot be opened (errno
/// set). Foundation-free, like the rest of the file handling.
public func directoryEntries(_ path: String) -> [String]? {
    guard let directory = opendir(path) else { return nil }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if name != ".", name != ".." { names.append(name) }
    }
    return names
}
