import NIOCore
import Testing
import TrawlFormats

/// Splits `text` fed in pieces of `pieceSize` bytes; returns each record as a string.
func split(_ text: String, _ format: RecordFormat, pieceSize: Int, columns: [String]? = nil) throws -> [String] {
    var splitter = format.makeSplitter(columns: columns)
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

    /// A Firehose stream without a delimiter writes its records back to back, `{...}{...}`, and exports may
    /// be pretty-printed: when the first line shows objects back to back, or a first object spans lines,
    /// each JSON object is a record, whatever blanks stand between the later ones.
    @Test(arguments: pieceSizes)
    func jsonObjectsWrittenBackToBackAreEachARecord(pieceSize: Int) throws {
        let text = "\n {\"a\":1}{\"b\":{\"c\":\"}{\\\"\\n\"}}\r\n{\"d\":[2]} {\"e\":3}\n\n{\"f\":4}"
        #expect(
            try split(text, .jsonLines, pieceSize: pieceSize) == [
                #"{"a":1}"#, #"{"b":{"c":"}{\"\n"}}"#, #"{"d":[2]}"#, #"{"e":3}"#, #"{"f":4}"#,
            ]
        )
        let pretty = "{\n  \"a\": [1,\n    2],\n  \"b\": {\"c\": true}\n}\n{\n  \"d\": null\n}\n"
        #expect(
            try split(pretty, .jsonLines, pieceSize: pieceSize) == [
                "{\n  \"a\": [1,\n    2],\n  \"b\": {\"c\": true}\n}", "{\n  \"d\": null\n}",
            ]
        )
        #expect(try split("{\n\"a\":1\n}", .jsonLines, pieceSize: pieceSize) == ["{\n\"a\":1\n}"])
        let notJSON = #expect(throws: RecordFormatFailure.self) {
            try split(#"{"a":1}{"b":2} tail"#, .jsonLines, pieceSize: pieceSize)
        }
        #expect(notJSON?.description == "text that is no JSON where a JSON object should start")
        let truncated = #expect(throws: RecordFormatFailure.self) {
            try split(#"{"a":1}{"b":"#, .jsonLines, pieceSize: pieceSize)
        }
        #expect(truncated?.description == "the object ends inside a JSON object (truncated?)")
    }

    /// Only a first line of JSON objects back to back changes how a json_lines object is split: a first line
    /// of one object, of text, or of an object that goes on past the line, keeps a record per line.
    @Test(arguments: pieceSizes)
    func jsonLinesWhoseFirstLineIsOneValueOrNoJSONStayARecordPerLine(pieceSize: Int) throws {
        #expect(
            try split("{\"a\":\"}{\"} \nnot json {}\n{\"b\":1}{\"c\":2}\n", .jsonLines, pieceSize: pieceSize)
                == [#"{"a":"}{"}"#, "not json {}", #"{"b":1}{"c":2}"#]
        )
        #expect(
            try split("2026-12-07 {\"a\":1}{}\n{}", .jsonLines, pieceSize: pieceSize) == [
                "2026-12-07 {\"a\":1}{}", "{}",
            ]
        )
        #expect(try split("{\"a\":1\n{\"b\":2}\n", .jsonLines, pieceSize: pieceSize) == [#"{"a":1"#, #"{"b":2}"#])
        #expect(try split("{\"a\":\"x\n\"}{}", .jsonLines, pieceSize: pieceSize) == [#"{"a":"x"#, #""}{}"#])
        #expect(try split("{\"a\" 1}{\"b\":2}", .jsonLines, pieceSize: pieceSize) == [#"{"a" 1}{"b":2}"#])
        #expect(try split("{\"a\":[1,}\n{}", .jsonLines, pieceSize: pieceSize) == [#"{"a":[1,}"#, "{}"])
        #expect(try split("{\"a\":1} x{}", .jsonLines, pieceSize: pieceSize) == [#"{"a":1} x{}"#])
        #expect(try split("{\"a\":1", .jsonLines, pieceSize: pieceSize) == [#"{"a":1"#])
    }

    @Test(arguments: pieceSizes)
    func aCloudTrailDocumentYieldsEachElementOfRecordsExactly(pieceSize: Int) throws {
        let first = #"{"eventVersion":"1.08","userIdentity":{"type":"Root","arn":"a]b}"},"resources":[{"x":[1,2]}]}"#
        let second = #"{"eventName":"ConsoleLogin","q":"\"quoted\" [not] {an} array"}"#
        let text = #"{"Other":[{"no":1}], "Records" : [ "# + first + ",\n  " + second + #" ], "tail":{"x":"Records"}}"#
        #expect(try split(text, .jsonDocument(listField: "Records"), pieceSize: pieceSize) == [first, second])
    }

    /// EventBridge writes Security Hub findings as `{"detail": {"findings": [...]}}`: a dotted list field
    /// follows nested objects (keys escaped or not), past the same names off the path; the root may also hold
    /// the whole field as one key, and a path that ends short of a list is an error.
    @Test(arguments: pieceSizes)
    func aDottedListFieldYieldsTheElementsOfTheNestedList(pieceSize: Int) throws {
        let first = #"{"Id":"arn:aws:securityhub:1","Severity":{"Label":"HIGH"},"detail":{"findings":[0]}}"#
        let second = #"{"Id":"arn:aws:securityhub:2","Resources":[{"Type":"AwsS3Bucket"}]}"#
        let text =
            #"{"findings":[{"top":1}],"version":"0","other":{"detail":{"findings":[9]}},"de\u0074ail" : {"#
            + #""x":{"findings":[8]},"findings" : [ "# + first + ",\n  " + second + #" ], "after":1}, "tail":[]}"#
        #expect(try split(text, .jsonDocument(listField: "detail.findings"), pieceSize: pieceSize) == [first, second])
        #expect(
            try split(
                #"{"detail.findings":[1,2],"detail":{}}"#,
                .jsonDocument(listField: "detail.findings"),
                pieceSize: pieceSize
            )
                == ["1", "2"]
        )
        #expect(throws: RecordFormatFailure.self) {
            try split(
                #"{"detail":{"x":{"findings":[1]}},"findings":[2]}"#,
                .jsonDocument(listField: "detail.findings"),
                pieceSize: pieceSize
            )
        }
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
        for text in [#"[1] "x""#, "[1],", #""x" [1]"#, ",[1]"] {
            #expect(throws: RecordFormatFailure.self, "\(text)") { try split(text, .jsonArray, pieceSize: 4) }
        }
        #expect(throws: RecordFormatFailure.self) {
            try split(#"{"Records":[{"a":1}]} "more""#, .jsonDocument(listField: "Records"), pieceSize: 4)
        }
        #expect(throws: RecordFormatFailure.self) { try split("a,b\n1,2,3\n", .csv, pieceSize: 4) }
        #expect(throws: RecordFormatFailure.self) { try split("x", .wholeObject(maxBytes: 0), pieceSize: 4) }
    }

    @Test(arguments: [RecordFormat.csv, .tsv, .vpcFlow])
    func aRowThatDoesNotFitTheHeaderIsNamedByItsNumber(format: RecordFormat) {
        let separator = format == .csv ? "," : format == .tsv ? "\t" : " "
        let text = ["a", "b", "c"].joined(separator: separator) + "\n1\(separator)2\(separator)3\n\n4\(separator)5\n"
        let failure = #expect(throws: RecordFormatFailure.self) { try split(text, format, pieceSize: 3) }
        #expect(
            failure?.description
                == "data row 2 (not counting the header and blank lines) has 2 fields where the header names 3"
        )
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

    /// CloudFront's standard logs and IIS's are W3C extended log format: directives, then rows (tab- or
    /// space-separated) whose columns the `#Fields:` directive names; a later `#Fields:` renames them.
    @Test(arguments: pieceSizes)
    func w3cExtendedLogsBecomeJSONObjectsNamedByTheirFieldsDirective(pieceSize: Int) throws {
        let text = """
            #Version: 1.0\r
            #Fields: date time x-edge-location c-ip cs(User-Agent) sc-status\r
            2019-12-04\t21:02:31\tLAX1\t192.0.2.100\tMozilla/5.0%20(X11)\t200\r

            #Remark: a restart\r
            #Fields: date c-ip\r
            2019-12-05\t-\r

            """
        #expect(
            try split(text, .tsv, pieceSize: pieceSize) == [
                #"{"date":"2019-12-04","time":"21:02:31","x-edge-location":"LAX1","c-ip":"192.0.2.100","cs(User-Agent)":"Mozilla/5.0%20(X11)","sc-status":"200"}"#,
                #"{"date":"2019-12-05","c-ip":"-"}"#,
            ]
        )
        let iis = """
            #Software: Microsoft Internet Information Services 10.0
            #Version: 1.0
            #Date: 2026-12-07 10:00:00
            #Fields: date time s-ip cs-method cs-uri-stem sc-status
            2026-12-07 10:00:00  10.0.0.1 GET /index.html 200

            """
        #expect(
            try split(iis, .tsv, pieceSize: pieceSize) == [
                #"{"date":"2026-12-07","time":"10:00:00","s-ip":"10.0.0.1","cs-method":"GET","cs-uri-stem":"/index.html","sc-status":"200"}"#
            ]
        )
        #expect(try split("#id\tname\n1\tx\n", .tsv, pieceSize: pieceSize) == [##"{"#id":"1","name":"x"}"##])
        let early = #expect(throws: RecordFormatFailure.self) {
            try split("#Version: 1.0\n2019-12-04\tLAX1\n", .tsv, pieceSize: pieceSize)
        }
        #expect(early?.description == "a data row comes before the #Fields: directive naming its columns")
        #expect(throws: RecordFormatFailure.self) {
            try split("#Fields: a b\n1\t2\t3\n", .tsv, pieceSize: pieceSize)
        }
    }

    /// A tab-separated W3C row is split at its tabs only: a value holding spaces stays one value, and an
    /// empty value between two tabs keeps its column (splitting at every blank shifted both).
    @Test(arguments: pieceSizes)
    func tabSeparatedW3CRowsKeepSpacesAndEmptyValuesInTheirColumns(pieceSize: Int) throws {
        let text =
            "#Version: 1.0\n#Fields: date c-ip x-note sc-status\n2019-12-05\t192.0.2.1\ta note with  spaces\t200\n"
            + "2019-12-06\t\t-\t404\n"
        #expect(
            try split(text, .tsv, pieceSize: pieceSize) == [
                #"{"date":"2019-12-05","c-ip":"192.0.2.1","x-note":"a note with  spaces","sc-status":"200"}"#,
                #"{"date":"2019-12-06","c-ip":"","x-note":"-","sc-status":"404"}"#,
            ]
        )
    }

    /// Cisco Umbrella writes its CSV exports without a header: `columns` names the fields, and every line,
    /// the first included, is a row.
    @Test(arguments: pieceSizes)
    func columnsNameTheFieldsOfObjectsWithoutAHeader(pieceSize: Int) throws {
        let csv =
            #""2026-12-07 10:00:00","alice@example.com","Allowed""# + "\r\n"
            + #""2026-12-07 10:00:01","b,ob","Blocked""#
        #expect(
            try split(csv, .csv, pieceSize: pieceSize, columns: ["time", "identity", "action"]) == [
                #"{"time":"2026-12-07 10:00:00","identity":"alice@example.com","action":"Allowed"}"#,
                #"{"time":"2026-12-07 10:00:01","identity":"b,ob","action":"Blocked"}"#,
            ]
        )
        #expect(try split("1\t2\n", .tsv, pieceSize: pieceSize, columns: ["a", "b"]) == [#"{"a":"1","b":"2"}"#])
        #expect(throws: RecordFormatFailure.self) {
            try split("1\t2\t3\n", .tsv, pieceSize: pieceSize, columns: ["a", "b"])
        }
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

    /// CloudWatch Logs subscription data as Firehose writes it: documents back to back, a health check
    /// among them, the last one after a newline.
    static let cloudWatchObject =
        #"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/lambda/auth","logStream":"2026/11/24/[$LATEST]0a1b","subscriptionFilters":["to-firehose"],"logEvents":[{"id":"38011","timestamp":1763990000000,"message":"START RequestId: 8f0c Version: $LATEST\n"},{"id":"38012","timestamp":1763990000100,"message":"{\"user\":\"jos\u00e9\",\"action\":\"login\",\"ok\":false}"}]}"#
        + #"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1432826855000,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#
        + "\n"
        + #"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"vpc-flows","logStream":"eni-0f1e-all","subscriptionFilters":["to-firehose"],"logEvents":[ {"id":"38013","timestamp":1763990001000,"message":"2 123456789012 eni-0f1e 10.0.0.5 10.0.1.9 443 51000 6 10 840 1763990000 1763990060 ACCEPT OK"} ]}"#
        + "\n"

    @Test(arguments: pieceSizes)
    func cloudWatchLogEventsAreRecordsWithTheirLogGroupAndHealthChecksAreSkipped(pieceSize: Int) throws {
        let context = #"{"owner":"123456789012","logGroup":"/aws/lambda/auth","logStream":"2026/11/24/[$LATEST]0a1b","#
        #expect(
            try split(Self.cloudWatchObject, .cloudWatchLogs(messageOnly: false), pieceSize: pieceSize) == [
                context
                    + #""id":"38011","timestamp":1763990000000,"message":"START RequestId: 8f0c Version: $LATEST\n"}"#,
                context
                    + #""id":"38012","timestamp":1763990000100,"message":"{\"user\":\"jos\u00e9\",\"action\":\"login\",\"ok\":false}"}"#,
                #"{"owner":"123456789012","logGroup":"vpc-flows","logStream":"eni-0f1e-all","id":"38013","timestamp":1763990001000,"message":"2 123456789012 eni-0f1e 10.0.0.5 10.0.1.9 443 51000 6 10 840 1763990000 1763990060 ACCEPT OK"}"#,
            ]
        )
    }

    @Test(arguments: pieceSizes)
    func cloudWatchMessagesAloneAreTheApplicationsTextUnescaped(pieceSize: Int) throws {
        #expect(
            try split(Self.cloudWatchObject, .cloudWatchLogs(messageOnly: true), pieceSize: pieceSize) == [
                "START RequestId: 8f0c Version: $LATEST\n",
                #"{"user":"josé","action":"login","ok":false}"#,
                "2 123456789012 eni-0f1e 10.0.0.5 10.0.1.9 443 51000 6 10 840 1763990000 1763990060 ACCEPT OK",
            ]
        )
    }

    @Test func objectsThatAreNotCloudWatchLogsDocumentsAreErrors() throws {
        let format = RecordFormat.cloudWatchLogs(messageOnly: false)
        #expect(throws: RecordFormatFailure.self) { try split(#"{"Records":[{"a":1}]}"#, format, pieceSize: 4) }
        #expect(throws: RecordFormatFailure.self) { try split(#"[{"logEvents":[]}]"#, format, pieceSize: 4) }
        #expect(throws: RecordFormatFailure.self) { try split("plain text\n", format, pieceSize: 4) }
        #expect(throws: RecordFormatFailure.self) { try split(#""text" {"logEvents":[]}"#, format, pieceSize: 4) }
        #expect(throws: RecordFormatFailure.self) { try split(#"{"logEvents":[{"id":"1"}"#, format, pieceSize: 4) }
        #expect(throws: RecordFormatFailure.self) { try split(#"{"logEvents":["text"]}"#, format, pieceSize: 4) }
        #expect(throws: RecordFormatFailure.self) {
            try split(#"{"logEvents":[{"id":"1"}]}"#, .cloudWatchLogs(messageOnly: true), pieceSize: 4)
        }
        #expect(try split(#"{"logEvents":[{}]} {"logEvents":[]}"#, format, pieceSize: 4) == ["{}"])
    }

    /// Each format with what opens a record that then never ends.
    static let openRecords: [(RecordFormat, String)] = [
        (.jsonLines, ""), (.lines, ""), (.tsv, "a\tb\n"), (.vpcFlow, "a b\n"), (.csv, "a,b\n"), (.jsonArray, "[\""),
        (.jsonDocument(listField: "Records"), #"{"Records":[""#),
        (.cloudWatchLogs(messageOnly: false), #"{"logEvents":[""#),
    ]

    @Test(arguments: openRecords)
    func aRecordLongerThanTheLimitFailsBeforeItEnds(format: RecordFormat, opening: String) throws {
        var splitter = format.makeSplitter(maxRecordBytes: 1_024)
        var records: [ByteBuffer] = []
        try splitter.consume(ByteBuffer(string: opening), into: &records)
        try splitter.consume(ByteBuffer(string: String(repeating: "x", count: 1_000)), into: &records)
        #expect(throws: RecordFormatFailure.self) {
            try splitter.consume(ByteBuffer(string: String(repeating: "x", count: 100)), into: &records)
        }
        #expect(records.isEmpty)
    }
}
