import Foundation
import NIOCore
import Testing
import TrawlParquet
import TrawlTesting

@Suite(.onComputeThreads) struct ParquetColumnTests {
    private func open(_ name: String, in directory: String = "data") async throws -> ParquetFileReader {
        let path = try RepositoryFiles.vectors("parquet-testing") + "/\(directory)/\(name)"
        // large_string_map's row group holds two strings of about a gigabyte: past the default limit.
        return try await ParquetFileReader.open(
            try ParquetLocalFile(path: path),
            name: path,
            limits: ParquetReadLimits(maximumRowGroupBytes: 4 << 30)
        )
    }

    private func column(_ file: ParquetFileReader, _ name: String, rowGroup: Int = 0) async throws -> ParquetColumnData
    {
        let index = try #require(file.schema.leaves.firstIndex { $0.dottedPath == name })
        return try await file.readColumn(rowGroup: rowGroup, column: index)
    }

    private func strings(_ values: ParquetValues) -> [String] {
        guard case .bytes(let arrays) = values else { return [] }
        return (0..<arrays.count).map { String(decoding: arrays[$0], as: UTF8.self) }
    }

    /// alltypes_plain (PLAIN, uncompressed, v1 pages): the values Impala wrote, column by column.
    @Test func plainColumnsDecodeToTheValuesWritten() async throws {
        let file = try await self.open("alltypes_plain.parquet")
        #expect(try await self.column(file, "id").values == .int32([4, 5, 6, 7, 2, 3, 0, 1]))
        #expect(
            try await self.column(file, "bool_col").values
                == .boolean([true, false, true, false, true, false, true, false])
        )
        #expect(try await self.column(file, "bigint_col").values == .int64([0, 10, 0, 10, 0, 10, 0, 10]))
        #expect(try await self.column(file, "double_col").values == .double([0, 10.1, 0, 10.1, 0, 10.1, 0, 10.1]))
        #expect(
            self.strings(try await self.column(file, "string_col").values) == ["0", "1", "0", "1", "0", "1", "0", "1"]
        )
        let dates = self.strings(try await self.column(file, "date_string_col").values)
        #expect(
            dates == ["03/01/09", "03/01/09", "04/01/09", "04/01/09", "02/01/09", "02/01/09", "01/01/09", "01/01/09"]
        )
        let optional = try await self.column(file, "id")
        #expect(optional.definitionLevels == Array(repeating: 1, count: 8))
    }

    /// The same table with SNAPPY pages, and with dictionary pages.
    @Test func snappyAndDictionaryColumnsDecode() async throws {
        let snappy = try await self.open("alltypes_plain.snappy.parquet")
        #expect(try await self.column(snappy, "id").values == .int32([6, 7]))
        #expect(self.strings(try await self.column(snappy, "string_col").values) == ["0", "1"])
        let dictionary = try await self.open("alltypes_dictionary.parquet")
        #expect(try await self.column(dictionary, "id").values == .int32([0, 1]))
        #expect(self.strings(try await self.column(dictionary, "date_string_col").values) == ["01/01/09", "01/01/09"])
    }

    /// The files whose content parquet-testing states in an `_expect.csv` (DELTA_BINARY_PACKED at every bit
    /// width, DELTA_BYTE_ARRAY, DELTA_LENGTH_BYTE_ARRAY, required and optional columns) decode to exactly
    /// those rows, column by column.
    @Test(arguments: ["delta_binary_packed", "delta_byte_array", "delta_encoding_required_column"])
    func deltaEncodedColumnsMatchTheExpectedRows(name: String) async throws {
        let root = try RepositoryFiles.vectors("parquet-testing") + "/data"
        let rows = Self.csvRows(try String(contentsOfFile: "\(root)/\(name)_expect.csv", encoding: .utf8))
        let file = try await self.open("\(name).parquet")
        #expect(rows[0].count == file.schema.leaves.count)
        for (index, leaf) in file.schema.leaves.enumerated() {
            var rendered: [String?] = []
            for rowGroup in file.metadata.rowGroups.indices {
                rendered += Self.render(try await file.readColumn(rowGroup: rowGroup, column: index))
            }
            let expected = rows.dropFirst().map { $0[index] }
            #expect(rendered == Array(expected), "\(name) \(leaf.dottedPath)")
        }
    }

    /// The files Apache keeps as reproductions of reader bugs (a corrupt schema, a negative dictionary
    /// size, levels that contradict their page) end in a ParquetError naming the file; none crashes.
    @Test func badDataFilesFailWithAnErrorNamingTheFile() async throws {
        let root = try RepositoryFiles.vectors("parquet-testing") + "/bad_data"
        let names = try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.hasSuffix(".parquet") }
            .sorted()
        #expect(names.count == 3)
        for name in names {
            let error = await #expect(throws: ParquetError.self, "\(name)") {
                let file = try await self.open(name, in: "bad_data")
                for rowGroup in file.metadata.rowGroups.indices {
                    for column in file.schema.leaves.indices {
                        _ = try await file.readColumn(rowGroup: rowGroup, column: column)
                    }
                }
            }
            #expect(error?.location.file.hasSuffix(name) == true)
        }
    }

    /// A flat column's slots as text: numbers in decimal, byte arrays as UTF-8, nulls as nil.
    static func render(_ data: ParquetColumnData) -> [String?] {
        var texts: [String] = []
        switch data.values {
        case .int32(let values): texts = values.map { String($0) }
        case .int64(let values): texts = values.map { String($0) }
        case .bytes(let values): texts = (0..<values.count).map { String(decoding: values[$0], as: UTF8.self) }
        default: break
        }
        guard data.leaf.maxDefinitionLevel > 0 else { return texts }
        var next = texts.makeIterator()
        return data.definitionLevels.map { $0 == UInt8(data.leaf.maxDefinitionLevel) ? next.next() : nil }
    }

    /// RFC 4180 rows; an empty unquoted field is nil (a null), a quoted one an empty string.
    static func csvRows(_ text: String) -> [[String?]] {
        var rows: [[String?]] = []
        var row: [String?] = []
        var field = ""
        var quoted = false
        var wasQuoted = false
        var characters = Array(text).makeIterator()
        var pending: Character? = characters.next()
        while let character = pending {
            pending = characters.next()
            if quoted {
                if character == "\"" {
                    if pending == "\"" {
                        field.append("\"")
                        pending = characters.next()
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(character)
                }
                continue
            }
            switch character {
            case "\"":
                quoted = true
                wasQuoted = true
            case ",":
                row.append(field.isEmpty && !wasQuoted ? nil : field)
                field = ""
                wasQuoted = false
            case "\n", "\r\n":
                row.append(field.isEmpty && !wasQuoted ? nil : field)
                rows.append(row)
                row = []
                field = ""
                wasQuoted = false
            default:
                field.append(character)
            }
        }
        if !row.isEmpty || !field.isEmpty { rows.append(row + [field.isEmpty && !wasQuoted ? nil : field]) }
        return rows
    }

    /// Every column of every row group of every parquet-testing file decodes into levels and values that
    /// agree with each other, or fails with a ParquetError naming the file, row group and column.
    @Test func everyColumnDecodesConsistentlyOrFailsClearly() async throws {
        let root = try RepositoryFiles.vectors("parquet-testing") + "/data"
        var decoded = 0
        var unsupported: [String] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: root).filter({ $0.hasSuffix(".parquet") })
            .sorted()
        {
            let file = try await self.open(name)
            for rowGroup in file.metadata.rowGroups.indices {
                for (index, leaf) in file.schema.leaves.enumerated() {
                    do {
                        let data = try await file.readColumn(rowGroup: rowGroup, column: index)
                        let present =
                            leaf.maxDefinitionLevel == 0
                            ? data.slotCount
                            : data.definitionLevels.filter { $0 == UInt8(leaf.maxDefinitionLevel) }.count
                        #expect(data.values.count == present, "\(name) \(leaf.dottedPath)")
                        if leaf.maxRepetitionLevel > 0 { #expect(data.repetitionLevels.count == data.slotCount) }
                        decoded += 1
                    } catch {
                        #expect(error.location.column == leaf.dottedPath)
                        #expect(error.location.rowGroup == rowGroup)
                        unsupported.append("\(name) \(leaf.dottedPath): \(error.message)")
                    }
                }
            }
        }
        #expect(unsupported.isEmpty, "\(unsupported.joined(separator: "\n"))")
        #expect(decoded == 185)
    }

    /// A row group that claims more memory than the limits allow is refused before anything is decoded,
    /// and a chunk's pages may not together exceed the chunk's claim or the limit.
    @Test func rowGroupsPastTheMemoryLimitAreRefused() async throws {
        let path = try RepositoryFiles.vectors("parquet-testing") + "/data/large_string_map.brotli.parquet"
        let large = try await ParquetFileReader.open(try ParquetLocalFile(path: path), name: path)
        let refused = await #expect(throws: ParquetError.self) {
            _ = try await large.rowRenderer(rowGroup: 0)
        }
        #expect(refused?.code == .limitExceeded)
        #expect(refused?.location.rowGroup == 0)
        #expect(refused?.message.contains("1073741824 bytes") == true)

        let sample = try RepositoryFiles.securityLakeSamples()[0]
        let small = try await ParquetFileReader.open(
            try ParquetLocalFile(path: sample),
            name: sample,
            limits: ParquetReadLimits(maximumRowGroupBytes: 100)
        )
        await #expect(throws: ParquetError.self) { _ = try await small.jsonRows(rowGroup: 0) }
        let chunks = small.metadata.rowGroups[0].columns
        let column = try #require(
            chunks.indices.max {
                chunks[$0].metadata!.totalUncompressedSize < chunks[$1].metadata!.totalUncompressedSize
            }
        )
        #expect(chunks[column].metadata!.totalUncompressedSize > 100)
        let page = await #expect(throws: ParquetError.self) {
            _ = try await small.readColumn(rowGroup: 0, column: column)
        }
        #expect(page?.code == .corruptMetadata)
        #expect(page?.location.column == small.schema.leaves[column].dottedPath)
    }
}
