import Foundation
import NIOPosix

/// pyarrow as the reference Parquet implementation (Tests/Support/peers/parquet_oracle.py): it renders a
/// file's rows as JSON in the convention Trawl's reader documents, so the two can be compared row for row,
/// and writes the files such comparisons run on.
public enum ParquetOracle {
    /// One JSON object per row, in file order.
    public static func render(_ path: String, keepNulls: Bool = false) async throws -> [String] {
        try await self.lines(["render", path] + (keepNulls ? ["--keep-nulls"] : []))
    }

    /// Has pyarrow write OCSF-like files (nested structs, lists of lists, maps, nulls at every level,
    /// decimals, dates, times, timestamps) in every codec, both data page versions, with and without
    /// dictionaries, several row groups each, into `directory`; returns their paths.
    public static func writeOCSFLikeFiles(into directory: String) async throws -> [String] {
        try await self.lines(["write", directory])
    }

    /// Has pyarrow write a wide file to `path`: 310 string columns, some of whose chunks fall back from a
    /// dictionary to PLAIN pages part way, and a map keyed by integers, in two row groups of 300 rows.
    public static func writeWideFile(to path: String) async throws {
        _ = try await self.lines(["write-wide", path])
    }

    /// Has pyarrow write `rows` rows of two text columns (about 80 bytes each, rendered) to `path` as one row
    /// group: a file whose reading renders many pieces without a row group boundary between them.
    public static func writeOneRowGroup(to path: String, rows: Int) async throws {
        _ = try await self.lines(["write-one-row-group", path, "\(rows)"])
    }

    /// Runs the oracle with `arguments`; its standard output, line by line.
    private static func lines(_ arguments: [String]) async throws -> [String] {
        try await FixtureThreadPool.shared.runIfActive {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments =
                [PeerProcess.python, "\(RepositoryFiles.root)/Tests/Support/peers/parquet_oracle.py"] + arguments
            let output = Pipe()
            process.standardOutput = output
            try process.runAlone()
            let printed = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw PeerFailed(
                    description:
                        "parquet_oracle.py \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)"
                )
            }
            return String(decoding: printed, as: UTF8.self).split(separator: "\n").map(String.init)
        }
    }
}
