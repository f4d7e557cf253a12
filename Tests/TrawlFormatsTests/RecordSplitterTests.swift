import NIOCore
import Testing
import TrawlFormats

/// Splits `text` fed in pieces of `pieceSize` bytes; returns each record as a string.
func split(_ text: String, _ format: RecordFormat, pieceSize: Int) throws -> [String] {
    var splitter = format.makeSplitter()
    var records: [ByteBuffer] = []
    let bytes = Array(text.utf8)
    var start = 0
    while start < bytes.count {
        let end = min(start + pieceSize, bytes.count)
        try splitter.consume(ByteBuffer(bytes: bytes[start..<end]), into: &records)
        start = end
    }
    try splitter.finish(into: &records)
    return records.map { String(buffer: $0) }
}

@Suite struct RecordSplitterTests {
    static let pieceSizes = [1, 3, 17, 4_096]

    @Test(arguments: pieceSizes)
    func jsonLinesAreRecordsByteForByteWithBlankLinesAndCarriageReturnsDropped(pieceSize: Int) throws {
        let text = "{\"a\":1}\r\n\n  \n{\"src.process.Storyline™.id\":\"x\\\\y\"}\n{\"last\":true}"
        #expect(
            try split(text, .jsonLines, pieceSize: pieceSize)
                == ["{\"a\":1}", "{\"src.process.Storyline™.id\":\"x\\\\y\"}", "{\"last\":true}"]
        )
    }

    @Test(arguments: pieceSizes)
    func aCloudTrailDocumentYieldsEachElementOfRecordsExactly(pieceSize: Int) throws {
        let first = #"{"eventVersion":"1.08","userIdentity":{"type":"Root","arn":"a]b}"},"resources":[{"x":[1,2]}]}"#
        let second = #"{"eventName":"ConsoleLogin","q":"\"quoted\" [not] {an} array"}"#
        let text = #"{"Other":[{"no":1}], "Records" : [ "# + first + ",\n  " + second + #" ], "tail":{"x":"Records"}}"#
        #expect(try split(text, .jsonDocument(listField: "Records"), pieceSize: pieceSize) == [first, second])
    }

    @Test(arguments: pieceSizes)
    func aJSONArrayYieldsObjectsAndScalars(pieceSize: Int) throws {
        #expect(
            try split(#"[{"a":[1]}, 42 ,"s,t", null,{"b":{}}]"#, .jsonArray, pieceSize: pieceSize)
                == [#"{"a":[1]}"#, "42", #""s,t""#, "null", #"{"b":{}}"#]
        )
    }

    @Test func documentsThatDoNotFitTheirProcessorAreErrors() {
        #expect(throws: RecordFormatFailure.self) {
            try split(#"{"Digest":"abc"}"#, .jsonDocument(listField: "Records"), pieceSize: 4)
        }
        #expect(throws: RecordFormatFailure.self) {
            try split(#"{"Records":[{"a":1},{"b""#, .jsonDocument(listField: "Records"), pieceSize: 4)
        }
        #expect(throws: RecordFormatFailure.self) { try split(#"{"a":1}"#, .jsonArray, pieceSize: 4) }
        #expect(throws: RecordFormatFailure.self) { try split("a,b\n1,2,3\n", .csv, pieceSize: 4) }
        #expect(throws: RecordFormatFailure.self) { try split("x", .wholeObject(maxBytes: 0), pieceSize: 4) }
    }

    @Test(arguments: pieceSizes)
    func csvRowsBecomeJSONObjectsHonouringQuotes(pieceSize: Int) throws {
        let text = "name,comment,n\r\nalice,\"says \"\"hi\"\", then\nleaves\",1\nbob,,2\n"
        #expect(
            try split(text, .csv, pieceSize: pieceSize) == [
                #"{"name":"alice","comment":"says \"hi\", then\nleaves","n":"1"}"#,
                #"{"name":"bob","comment":"","n":"2"}"#,
            ]
        )
    }

    @Test func tsvRowsBecomeJSONObjects() throws {
        #expect(try split("a\tb\n1\t\n", .tsv, pieceSize: 2) == [#"{"a":"1","b":""}"#])
    }

    @Test(arguments: pieceSizes)
    func vpcFlowRowsFollowTheirHeaderAndLeaveOutAbsentFields(pieceSize: Int) throws {
        let text = """
            version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status
            2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK
            2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA

            """
        let records = try split(text, .vpcFlow, pieceSize: pieceSize)
        #expect(records.count == 2)
        #expect(
            records[0].hasPrefix(
                #"{"version":"2","account-id":"123456789010","interface-id":"eni-1235b8ca123456789","srcaddr":"172.31.16.139""#
            )
        )
        #expect(
            records[1]
                == #"{"version":"2","account-id":"123456789010","interface-id":"eni-1235b8ca123456789","start":"1431280876","end":"1431280934","log-status":"NODATA"}"#
        )
    }

    @Test func linesAndWholeObjects() throws {
        #expect(try split("plain text\nsecond line\n", .lines, pieceSize: 5) == ["plain text", "second line"])
        #expect(try split("one\nmessage\n", .wholeObject(maxBytes: 100), pieceSize: 3) == ["one\nmessage\n"])
    }
}
