import Foundation
import NIOCore
import Testing
import TrawlParquet
import TrawlTesting

@Suite(.onComputeThreads) struct ParquetFooterTests {
    private func files(in suite: String, directory: String = "") throws -> [String] {
        let root = try RepositoryFiles.vectors(suite) + (directory.isEmpty ? "" : "/\(directory)")
        return try FileManager.default.contentsOfDirectory(atPath: root)
            .filter { $0.hasSuffix(".parquet") }
            .sorted()
            .map { "\(root)/\($0)" }
    }

    private func open(_ path: String) async throws -> ParquetFileReader {
        try await ParquetFileReader.open(try ParquetLocalFile(path: path), name: path)
    }

    /// Every file of Apache's parquet-testing data opens: its footer decodes, its schema has a column for
    /// each chunk of every row group, and the row groups add up to the file's row count.
    @Test func everyParquetTestingFileHasADecodableFooterAndConsistentSchema() async throws {
        let paths = try self.files(in: "parquet-testing", directory: "data")
        #expect(paths.count == 28)
        for path in paths {
            let file = try await self.open(path)
            #expect(!file.schema.leaves.isEmpty, "\(path)")
            #expect(file.metadata.rowGroups.reduce(0) { $0 + $1.numRows } == file.metadata.numRows, "\(path)")
            for group in file.metadata.rowGroups {
                #expect(group.columns.count == file.schema.leaves.count, "\(path)")
                for (chunk, leaf) in zip(group.columns, file.schema.leaves) {
                    #expect(chunk.metadata?.pathInSchema == leaf.path, "\(path)")
                    #expect(chunk.metadata?.type == leaf.element.type, "\(path)")
                }
            }
        }
    }

    /// Where parquet-testing states the content in an `_expect.csv`, the footer's row count matches it.
    @Test func rowCountsMatchTheExpectedContent() async throws {
        let root = try RepositoryFiles.vectors("parquet-testing") + "/data"
        let expectations = try FileManager.default.contentsOfDirectory(atPath: root).filter {
            $0.hasSuffix("_expect.csv")
        }
        #expect(!expectations.isEmpty)
        for expectation in expectations {
            let name = String(expectation.dropLast("_expect.csv".count)) + ".parquet"
            let text = try String(contentsOfFile: "\(root)/\(expectation)", encoding: .utf8)
            let rows = text.split(separator: "\n", omittingEmptySubsequences: true).count - 1
            let file = try await self.open("\(root)/\(name)")
            #expect(file.metadata.numRows == Int64(rows), "\(name)")
        }
    }

    /// The real Security Lake samples (parquet-mr through Avro) open, with their nested OCSF schema: the
    /// legacy two-level lists whose element is named `array` show up as such in the leaf paths.
    @Test func securityLakeSamplesOpenWithTheirNestedSchema() async throws {
        let paths = try self.files(in: "security-lake")
        #expect(paths.count == 5)
        var sawAvroList = false
        for path in paths {
            let file = try await self.open(path)
            #expect(file.metadata.numRows > 0)
            #expect(file.metadata.createdBy?.contains("parquet-mr") == true, "\(path)")
            #expect(file.schema.leaves.contains { $0.path.first == "metadata" }, "\(path)")
            if file.schema.leaves.contains(where: { $0.path.contains("array") }) { sawAvroList = true }
            let codecs = Set(file.metadata.rowGroups.flatMap { $0.columns.compactMap { $0.metadata?.codec } })
            #expect(codecs == [ParquetCompressionCodec.gzip.rawValue], "\(path)")
        }
        #expect(sawAvroList)
    }

    /// A schema whose Thrift was corrupted (PARQUET-1481) is refused with an error naming the file.
    @Test func aCorruptSchemaIsRefusedWithAnErrorNamingTheFile() async throws {
        let path = try RepositoryFiles.vectors("parquet-testing") + "/bad_data/PARQUET-1481.parquet"
        let error = await #expect(throws: ParquetError.self) { _ = try await self.open(path) }
        #expect(error?.code == .corruptMetadata)
        #expect(error?.description.hasPrefix(path) == true)
    }

    /// The Parquet fuzzer's find (369 bytes): a DECIMAL column whose scale is 1,733,229,246. Rendering
    /// its value padded it with that many zeros, gigabytes for one row; the scale is now refused.
    @Test func aDecimalScaleBeyondThirtyEightDigitsIsCorruptMetadata() async throws {
        let bytes = try #require(Data(base64Encoded: Self.hugeDecimalScaleFile))
        let error = #expect(throws: ParquetError.self) {
            _ = try ParquetFileReader.jsonRows(ofFile: ByteBuffer(bytes: bytes), name: "scale.parquet")
        }
        #expect(error?.code == .corruptMetadata)
        #expect(error?.description.contains("DECIMAL with scale") == true, "\(error.map { "\($0)" } ?? "")")
    }

    static let hugeDecimalScaleFile =
        "UEFSMRUAFaoCFaoCLBUwFQAVBhUGAAACAAAAMAEBAAAAZAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAADAAAAAAAAAAAAAAAAAAAAAAAAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAACAAAAAMgCAAAAASwCAAAAAZACAAAAAfQCAAAAAlgCAAAApwK8AgAAAAMgAgAALAOEAAAAAAAAAAAAAAAAAAAAAAAAAAAVAgAAACa0ExwVDBk1CAAGCAAVAhksNQAYBnNjaGVtYRUCABUMJQIYBXZhbHVlJQoV/Or39AwAFjAZHBkcJggcFQwZBRkYBXZhbHVlFQAWMBbQAhbQAiYIAAAW0AIWMAAoJkhWUiA1LjMuMC85IChsaW51eF9nbGliYzIuNS14NjQtNjRiaXQpAHcAAABQQVIx"

    @Test func bytesWithoutTheMagicAreNotParquet() async throws {
        let error = await #expect(throws: ParquetError.self) {
            _ = try await ParquetFileReader.open(
                ParquetBytes(ByteBuffer(string: "{\"a\":1}\n{\"a\":2}\n")),
                name: "x.json"
            )
        }
        #expect(error?.code == .notParquet)
        #expect(error?.location.file == "x.json")
    }

    @Test func aFooterLengthPointingOutsideTheFileIsTruncation() async throws {
        var bytes = ByteBuffer(string: "PAR1")
        bytes.writeRepeatingByte(0, count: 20)
        bytes.writeInteger(UInt32(1_000_000), endianness: .little)
        bytes.writeString("PAR1")
        let error = await #expect(throws: ParquetError.self) {
            _ = try await ParquetFileReader.open(ParquetBytes(bytes), name: "short.parquet")
        }
        #expect(error?.code == .truncated)
    }

    /// Hostile footers: every file's footer with bytes overwritten, cut short, or with lengths inflated
    /// decodes or fails with a ParquetError; never a crash, a hang or an unbounded allocation.
    @Test func mutatedFootersFailCleanly() async throws {
        var generator = SplitMix64(seed: 0x7261_776C)
        var failures = 0
        var opened = 0
        for path in try self.files(in: "parquet-testing", directory: "data") + self.files(in: "security-lake") {
            let original = try Data(contentsOf: URL(fileURLWithPath: path))
            let footerLength = original.suffix(8).prefix(4).withUnsafeBytes {
                Int($0.loadUnaligned(as: UInt32.self).littleEndian)
            }
            let footerStart = original.count - 8 - footerLength
            for _ in 0..<60 {
                var bytes = [UInt8](original)
                for _ in 0..<(1 + Int(generator.next() % 4)) {
                    let position = footerStart + Int(generator.next() % UInt64(footerLength))
                    bytes[position] = UInt8(truncatingIfNeeded: generator.next())
                }
                do {
                    _ = try await ParquetFileReader.open(ParquetBytes(ByteBuffer(bytes: bytes)), name: path)
                    opened += 1
                } catch {
                    failures += 1
                }
            }
        }
        #expect(failures > 0)
        #expect(opened > 0)
    }
}
