import Foundation
import NIOCore
import Testing
import TrawlParquet
import TrawlTesting

@Suite struct ParquetJSONTests {
    static func trawlRows(_ path: String, keepNulls: Bool = false) async throws -> [String] {
        let file = try await ParquetFileReader.open(try ParquetLocalFile(path: path), name: path)
        var rows: [String] = []
        for rowGroup in file.metadata.rowGroups.indices {
            let (buffer, ends) = try await file.jsonRows(rowGroup: rowGroup, options: .init(keepNulls: keepNulls))
            var start = buffer.readerIndex
            for end in ends {
                rows.append(String(decoding: buffer.readableBytesView[start..<end], as: UTF8.self))
                start = end
            }
        }
        return rows
    }

    /// The real Security Lake samples (parquet-mr through Avro, GZIP, nested structs, two-level `array`
    /// lists, `unmapped` maps) render row for row as pyarrow renders them, with and without nulls.
    @Test(arguments: try RepositoryFiles.securityLakeSamples())
    func securityLakeSamplesRenderAsPyarrowDoes(path: String) async throws {
        for keepNulls in [false, true] {
            let expected = try await ParquetOracle.render(path, keepNulls: keepNulls)
            let rendered = try await Self.trawlRows(path, keepNulls: keepNulls)
            #expect(!expected.isEmpty)
            #expect(rendered.count == expected.count)
            for (index, (mine, theirs)) in zip(rendered, expected).enumerated() where mine != theirs {
                Issue.record("row \(index) differs (keepNulls \(keepNulls)):\ntrawl:   \(mine)\npyarrow: \(theirs)")
                break
            }
        }
    }

    /// A file held in memory renders, without suspending, exactly as when read through its byte source.
    @Test(arguments: try RepositoryFiles.securityLakeSamples())
    func inMemoryRenderingEqualsTheByteSourcePath(path: String) async throws {
        let bytes = ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: path)))
        var rows: [String] = []
        for (buffer, ends) in try ParquetFileReader.jsonRows(ofFile: bytes, name: path) {
            var start = buffer.readerIndex
            for end in ends {
                rows.append(String(decoding: buffer.readableBytesView[start..<end], as: UTF8.self))
                start = end
            }
        }
        #expect(!rows.isEmpty)
        #expect(rows == (try await Self.trawlRows(path)))
        let error = #expect(throws: ParquetError.self) {
            _ = try ParquetFileReader.jsonRows(
                ofFile: bytes.getSlice(at: 0, length: bytes.readableBytes - 1)!,
                name: path
            )
        }
        #expect(error?.code == .notParquet)
    }

    static func parquetTestingFiles() throws -> [String] {
        let root = try RepositoryFiles.vectors("parquet-testing") + "/data"
        // large_string_map holds two strings of about a gigabyte each, which pyarrow cannot convert into
        // one array (ParquetColumnTests decodes it).
        return try FileManager.default.contentsOfDirectory(atPath: root)
            .filter { $0.hasSuffix(".parquet") && $0 != "large_string_map.brotli.parquet" }.sorted()
            .map { "\(root)/\($0)" }
    }

    /// Every parquet-testing file renders row for row as pyarrow renders it.
    @Test(arguments: try parquetTestingFiles())
    func parquetTestingFilesRenderAsPyarrowDoes(path: String) async throws {
        let expected = try await ParquetOracle.render(path, keepNulls: true)
        let rendered = try await Self.trawlRows(path, keepNulls: true)
        #expect(rendered.count == expected.count)
        for (index, (mine, theirs)) in zip(rendered, expected).enumerated() where mine != theirs {
            Issue.record("row \(index) differs:\ntrawl:   \(mine.prefix(600))\npyarrow: \(theirs.prefix(600))")
            break
        }
    }

    /// pyarrow writes OCSF-like records (nested structs, lists of lists, maps, nulls at every level,
    /// decimals, dates, times, timestamps, unsigned and binary) with every codec, data pages v1 and v2,
    /// dictionary and plain, three row groups each; Trawl renders every row as pyarrow does.
    @Test func filesPyarrowWritesInEveryCodecAndPageVersionRenderAsItReadsThem() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let paths = try await ParquetOracle.writeOCSFLikeFiles(into: directory.path)
        #expect(paths.count == 24)
        for path in paths {
            let file = try await ParquetFileReader.open(try ParquetLocalFile(path: path), name: path)
            #expect(file.metadata.rowGroups.count == 3)
            for keepNulls in [false, true] {
                let expected = try await ParquetOracle.render(path, keepNulls: keepNulls)
                let rendered = try await Self.trawlRows(path, keepNulls: keepNulls)
                #expect(expected.count == 700)
                #expect(rendered.count == expected.count)
                for (index, (mine, theirs)) in zip(rendered, expected).enumerated() where mine != theirs {
                    Issue.record("\(path) row \(index) differs:\ntrawl:   \(mine)\npyarrow: \(theirs)")
                    break
                }
            }
        }
    }
}
