import Crypto
import Foundation
import Logging
import NIOCore
import TrawlAWS

/// Streams one S3 object and reports its size, SHA-256 and this process's peak memory, so a test can
/// check that reading an object of any size takes bounded memory, apart from the test runner's own.
/// Usage: trawl-s3-reader ENDPOINT BUCKET KEY ACCESS_KEY_ID SECRET
@main
struct S3Reader {
    /// `VmHWM` (peak resident set) of this process in KiB.
    static func peakResidentKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }

    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 6, let endpoint = AWSEndpoint(url: arguments[1]) else {
            FileHandle.standardError.write(
                Data("usage: trawl-s3-reader ENDPOINT BUCKET KEY ACCESS_KEY_ID SECRET\n".utf8)
            )
            exit(2)
        }
        let client = AWSClient()
        let s3 = S3Client(
            client: client,
            region: "us-east-1",
            endpoint: endpoint,
            addressing: .path,
            credentials: StaticCredentialProvider(
                AWSCredentials(accessKeyID: arguments[4], secretAccessKey: arguments[5])
            )
        )
        let logger = Logger(label: "trawl-s3-reader")
        let before = Self.peakResidentKiB()
        var hasher = SHA256()
        var bytes = 0
        var largestChunk = 0
        for try await chunk in try await s3.getObject(bucket: arguments[2], key: arguments[3], logger: logger) {
            chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
            bytes += chunk.readableBytes
            largestChunk = max(largestChunk, chunk.readableBytes)
        }
        let after = Self.peakResidentKiB()
        try await client.shutdown()
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        print(
            "{\"bytes\":\(bytes),\"sha256\":\"\(digest)\",\"peak_before_kib\":\(before),"
                + "\"peak_after_kib\":\(after),\"largest_chunk\":\(largestChunk)}"
        )
    }
}
