import Foundation

/// Files outside the test bundle that tests read: the repository's own (docs, examples) and the shared
/// vectors beside it (`../shared/vectors`), which are never copied into the repository.
public enum RepositoryFiles {
    /// The repository's root, found from this source file's location.
    public static let root: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// `../shared` next to the repository (or `$TRAWL_SHARED_DIRECTORY`, or `/work/shared` when the
    /// repository was cloned elsewhere); nil when none exists.
    public static var sharedDirectory: String? {
        let candidates: [String?] = [
            ProcessInfo.processInfo.environment["TRAWL_SHARED_DIRECTORY"],
            URL(fileURLWithPath: Self.root).deletingLastPathComponent().appendingPathComponent("shared").path,
            "/work/shared",
        ]
        return candidates.compactMap { $0 }.first { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: "\(path)/vectors", isDirectory: &isDirectory)
                && isDirectory.boolValue
        }
    }

    /// The directory of one vector suite (`sigv4`, `parquet-testing`, `security-lake`).
    public static func vectors(_ suite: String) throws -> String {
        guard let shared = Self.sharedDirectory else { throw MissingSharedVectors(suite: suite) }
        return "\(shared)/vectors/\(suite)"
    }

    /// The real Amazon Security Lake Parquet samples (parquet-mr through Avro, GZIP, OCSF 1.0.0-rc.2).
    public static func securityLakeSamples() throws -> [String] {
        let root = try Self.vectors("security-lake")
        return try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.hasSuffix(".parquet") }.sorted()
            .map { "\(root)/\($0)" }
    }
}

/// The shared vectors are not where tests look for them.
public struct MissingSharedVectors: Error, CustomStringConvertible {
    public var suite: String
    public var description: String {
        "shared vectors \(suite) not found: expected ../shared/vectors/\(suite) beside the repository, "
            + "or set TRAWL_SHARED_DIRECTORY"
    }
}
