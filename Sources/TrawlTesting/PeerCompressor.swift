import Foundation
import NIOPosix

/// Compresses test data with real implementations (Tests/Support/peers/compress.py: Python's gzip and bz2,
/// cramjam's zstd and snappy framing), so Trawl's decompressors are checked against other writers.
public enum PeerCompressor {
    /// `format` is gzip, zstd, snappy, bzip2 or none, with `-multi` for three members, frames or streams.
    public static func compress(_ data: [UInt8], format: String) async throws -> [UInt8] {
        try await FixtureThreadPool.shared.runIfActive {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [
                PeerProcess.python, "\(RepositoryFiles.root)/Tests/Support/peers/compress.py", format,
            ]
            let input = Pipe()
            let output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            try process.runAlone()
            let writer = Thread {
                try? input.fileHandleForWriting.write(contentsOf: Data(data))
                try? input.fileHandleForWriting.close()
            }
            writer.start()
            let compressed = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw PeerFailed(description: "compress.py \(format) exited with \(process.terminationStatus)")
            }
            return Array(compressed)
        }
    }
}
