import Foundation
import Testing
import TrawlAWS
import TrawlTesting

/// An object larger than 64 MiB streams through in bounded memory: the reader runs in its own process
/// (trawl-s3-reader) so its peak resident memory is its own, not the test runner's.
@Suite struct LargeObjectMemoryTests {
    @Test func aSeventyTwoMebibyteObjectIsReadWithUnderSixteenMebibytesOfGrowth() async throws {
        let moto = try await MotoServer.open()
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let bucket = "trawl-large-\(suffix)"
        try await moto.fixture(["command": "bucket-queue", "bucket": bucket, "queue": bucket, "notify": false])
        let size = 72 * 1024 * 1024 + 5
        let key = "large/object with spaces.bin"
        let objects: [[String: any Sendable]] = [["key": key, "size": size, "seed": "large"]]
        let put = try await moto.fixtureJSON(["command": "put", "bucket": bucket, "objects": objects])
        let expected = try #require((put[key] as? [String: Any])?["sha256"] as? String)
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (status, output, errors) = try await BuiltExecutable.run(
            "trawl-s3-reader",
            arguments: [moto.endpoint, bucket, key, "testing", "testing"],
            workingDirectory: directory.path
        )
        #expect(status == 0, "\(errors)")
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any],
            "trawl-s3-reader printed \(output) \(errors)"
        )
        #expect(report["bytes"] as? Int == size)
        #expect(report["sha256"] as? String == expected)
        let before = try #require(report["peak_before_kib"] as? Int)
        let after = try #require(report["peak_after_kib"] as? Int)
        #expect(after - before < 16 * 1024, "peak grew from \(before) KiB to \(after) KiB for a \(size)-byte object")
    }
}
