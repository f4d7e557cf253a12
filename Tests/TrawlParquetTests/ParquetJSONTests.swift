import Foundation
import NIOCore
import Synchronization
import Testing
import TrawlParquet
import TrawlTesting

@Suite(.onComputeThreads) struct ParquetJSONTests {
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

    /// Expects `path` to render as pyarrow renders it, row for row, and returns how many rows pyarrow
    /// rendered; the first differing row is recorded.
    @discardableResult
    static func expectRendersAsPyarrow(_ path: String, keepNulls: Bool) async throws -> Int {
        let expected = try await ParquetOracle.render(path, keepNulls: keepNulls)
        let rendered = try await Self.trawlRows(path, keepNulls: keepNulls)
        #expect(rendered.count == expected.count)
        for (index, (mine, theirs)) in zip(rendered, expected).enumerated() where mine != theirs {
            Issue.record(
                "\(path) row \(index) differs (keepNulls \(keepNulls)):\ntrawl:   \(mine.prefix(600))\npyarrow: \(theirs.prefix(600))"
            )
            break
        }
        return expected.count
    }

    /// The real Security Lake samples (parquet-mr through Avro, GZIP, nested structs, two-level `array`
    /// lists, `unmapped` maps) render row for row as pyarrow renders them, with and without nulls.
    @Test(arguments: try RepositoryFiles.securityLakeSamples())
    func securityLakeSamplesRenderAsPyarrowDoes(path: String) async throws {
        for keepNulls in [false, true] {
            #expect(try await Self.expectRendersAsPyarrow(path, keepNulls: keepNulls) > 0)
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
        #expect(error?.code == .truncated)
        #expect(error?.message.hasPrefix("the file starts with PAR1 but does not end with it") == true)
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
        try await Self.expectRendersAsPyarrow(path, keepNulls: true)
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
                #expect(try await Self.expectRendersAsPyarrow(path, keepNulls: keepNulls) == 700)
            }
        }
    }

    /// A file with more string columns than a renderer holds in place at once, chunks whose dictionary
    /// overflows so that later pages are PLAIN, and a map keyed by integers renders as pyarrow reads it.
    @Test func wideFilesWithDictionariesFallingBackToPlainRenderAsPyarrowDoes() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = "\(directory.path)/wide.parquet"
        try await ParquetOracle.writeWideFile(to: path)
        let file = try await ParquetFileReader.open(try ParquetLocalFile(path: path), name: path)
        let strings = file.schema.leaves.filter { $0.element.type == .byteArray }.count
        // More than the 256 that ParquetLeafValueTables holds in place: the rest take the other path.
        #expect(strings > 256)
        #expect(file.metadata.rowGroups.count == 2)
        for keepNulls in [false, true] {
            #expect(try await Self.expectRendersAsPyarrow(path, keepNulls: keepNulls) == 600)
        }
    }

    /// A copy of a renderer part way through goes on from the same row as the original, each on its own.
    @Test func aCopiedRendererContinuesFromTheSameRowIndependently() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = "\(directory.path)/rows.parquet"
        try await ParquetOracle.writeOneRowGroup(to: path, rows: 50)
        let file = try await ParquetFileReader.open(try ParquetLocalFile(path: path), name: path)
        var original = try await file.rowRenderer(rowGroup: 0)
        #expect(original.rows == 50)
        _ = try original.next(maxBytes: 1)
        var copy = original
        var fromOriginal: [ByteBuffer] = []
        while let (buffer, _) = try original.next(maxBytes: 1) { fromOriginal.append(buffer) }
        var fromCopy: [ByteBuffer] = []
        while let (buffer, _) = try copy.next(maxBytes: 1) { fromCopy.append(buffer) }
        #expect(fromOriginal.count == original.rows - 1)
        #expect(fromCopy == fromOriginal)
    }

    /// Rendering only some top-level fields gives pyarrow's rows with just those fields, and the columns
    /// of the other fields are never read from the file.
    @Test(arguments: try RepositoryFiles.securityLakeSamples())
    func projectedRowsReadOnlyTheirColumns(path: String) async throws {
        let fields: Set<String> = ["time", "class_name", "actor", "src_endpoint", "no_such_field"]
        let source = RecordingByteSource(try ParquetLocalFile(path: path))
        let file = try await ParquetFileReader.open(source, name: path)
        var projected: [String] = []
        for rowGroup in file.metadata.rowGroups.indices {
            var renderer = try await file.rowRenderer(rowGroup: rowGroup, options: .init(fields: fields))
            while let (buffer, ends) = try renderer.next() {
                var start = 0
                for end in ends {
                    projected.append(
                        String(decoding: buffer.readableBytesView.dropFirst(start).prefix(end - start), as: UTF8.self)
                    )
                    start = end
                }
            }
        }
        let expected = try await ParquetOracle.render(path).map { line in
            let row = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            return NSDictionary(dictionary: row.filter { fields.contains($0.key) })
        }
        let rows = try projected.map {
            NSDictionary(dictionary: try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:])
        }
        #expect(rows == expected)
        let readColumns = Set(
            file.schema.leaves.indices.filter { column in
                guard let chunk = file.metadata.rowGroups[0].columns[column].metadata else { return false }
                var start = chunk.dataPageOffset
                if let dictionary = chunk.dictionaryPageOffset, dictionary > 0 { start = min(start, dictionary) }
                return source.offsets.contains(Int(start))
            }.map { file.schema.leaves[$0].path[0] }
        )
        #expect(readColumns == fields.intersection(file.schema.leaves.map { $0.path[0] }))
    }
}

/// A byte source that remembers the offsets read from, to tell which column chunks were fetched.
final class RecordingByteSource: ParquetByteSource {
    private let recorded = Mutex<[Int]>([])
    let inner: any ParquetByteSource

    var offsets: [Int] { self.recorded.withLock { $0 } }

    init(_ inner: any ParquetByteSource) { self.inner = inner }

    var size: Int { self.inner.size }

    func read(offset: Int, length: Int) async throws -> ByteBuffer {
        self.recorded.withLock { $0.append(offset) }
        return try await self.inner.read(offset: offset, length: length)
    }
}
