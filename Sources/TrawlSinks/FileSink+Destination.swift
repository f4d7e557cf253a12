import TrawlCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension TrawlError.Code {
    public static let outputFileUnwritable = Self(
        kind: "SetupError",
        id: 19,
        title: "output file cannot be written",
        cause:
            "The path of a file output names a directory, pipe or device, or the user Trawl runs as cannot create or write it (or the journal beside it) in its directory.",
        fix:
            "Point path at a regular file in a directory that the user running Trawl can write (it creates missing directories), or give that user write access."
    )
}

extension FileSink {
    /// Why `path` cannot take a file output's appends, or nil when it can as far as can be told without
    /// writing: the path is a regular file or can be created, and its directory can be written (the journal
    /// `<path>.trawl-journal` lives beside it). `trawl validate` reports this before a run, where the sink
    /// itself would only find it at its first write and then retry it without end.
    public static func destinationProblem(_ path: String) -> String? {
        var info = stat()
        if stat(path, &info) == 0 {
            switch info.st_mode & S_IFMT {
            case S_IFREG: break
            case S_IFDIR: return "\(path) is a directory; path names the file to append to, such as \(path)/devo.log"
            default:
                return
                    "\(path) is not a regular file (a pipe, socket or device); for standard output use the console output"
            }
            if access(path, W_OK) != 0 { return "\(path) cannot be written: \(errnoDescription())" }
        }
        var ancestor = Self.parent(of: path)
        while true {
            if stat(ancestor, &info) == 0 {
                guard info.st_mode & S_IFMT == S_IFDIR else {
                    return "\(ancestor) is not a directory, so \(path) cannot be created in it"
                }
                guard access(ancestor, W_OK | X_OK) == 0 else {
                    return "\(path) and its journal cannot be created in \(ancestor): \(errnoDescription())"
                }
                return nil
            }
            guard errno == ENOENT || errno == ENOTDIR else {
                return "\(ancestor) cannot be examined: \(errnoDescription())"
            }
            let next = Self.parent(of: ancestor)
            guard next != ancestor else { return nil }
            ancestor = next
        }
    }

    /// The directory holding `path`: `.` for a bare name, `/` for a name in the root.
    private static func parent(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }
}
