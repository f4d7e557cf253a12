import Foundation
import NIOCore
import Testing
import TrawlFormats
import TrawlTesting

@Suite struct RecordTaggerTests {
    @Test func cloudFunnelRecordsGoToTheirCategorysTableAndUnknownOnesToTheFallback() {
        let tagger = RecordTagger(tag: "unused.tag", fieldRule: .cloudFunnel(fallback: "edr.sentinelone.dv.unknown"))
        var object = tagger.forObject(key: "s1/cloud_funnel/2026/11/23/account_id=1/a.gz")
        for category in CloudFunnelCategorizer.categories {
            let record = ByteBuffer(
                string: #"{"src.process.name":"x","event.category":"\#(category)","event.type":"T"}"#
            )
            #expect(object.tag(of: record) == "edr.sentinelone.dv.\(category)")
        }
        #expect(object.tag(of: ByteBuffer(string: #"{"event.category":"brand_new"}"#)) == "edr.sentinelone.dv.unknown")
        #expect(object.tag(of: ByteBuffer(string: #"{"event.type":"X"}"#)) == "edr.sentinelone.dv.unknown")
        #expect(object.tag(of: ByteBuffer(string: "not json")) == "edr.sentinelone.dv.unknown")
        #expect(object.fallbacks == 3)
    }

    @Test func theFieldIsReadAtTheTopLevelOnly() {
        let key = Array("event.category".utf8)
        func value(_ text: String) -> String? {
            let bytes = Array(text.utf8)
            return bytes.withUnsafeBytes { raw in
                JSONFieldReader.stringValue(of: key, in: raw).map { String(decoding: raw[$0], as: UTF8.self) }
            }
        }
        #expect(
            value(#"{"nested":{"event.category":"dns"},"list":[{"event.category":"ip"}],"event.category":"file"}"#)
                == "file"
        )
        #expect(value(#"{"cmd":"echo \"event.category\":\"dns\"","event.category" : "process"}"#) == "process")
        #expect(value(#"{"event.category":7}"#) == nil)
        #expect(value(#"{"nested":{"event.category":"dns"}}"#) == nil)
    }

    /// Keys and values are their text, however the writer escaped them: `ensure_ascii` writes
    /// `event.category` unchanged but a PHP or Java writer may send `"aws\/lambda"`.
    @Test func escapedKeysAndValuesChooseTheTagTheirTextNames() {
        let tagger = RecordTagger(tag: "unused.tag", fieldRule: .cloudFunnel(fallback: "edr.sentinelone.dv.unknown"))
        var object = tagger.forObject(key: "a.gz")
        #expect(object.tag(of: ByteBuffer(string: #"{"event\u002ecategory":"dns"}"#)) == "edr.sentinelone.dv.dns")
        #expect(object.tag(of: ByteBuffer(string: #"{"event.category":"d\u006es"}"#)) == "edr.sentinelone.dv.dns")
        #expect(object.fallbacks == 0)
        let mapped = RecordTagger(
            tag: "cloud.aws.default",
            fieldRule: .mapping(field: "sourcé", mapping: ["aws/lambda": "cloud.aws.lambda"], fallback: nil)
        )
        var mappedObject = mapped.forObject(key: "x")
        #expect(mappedObject.tag(of: ByteBuffer(string: #"{"sourc\u00e9":"aws\/lambda"}"#)) == "cloud.aws.lambda")
        #expect(mappedObject.tag(of: ByteBuffer(string: #"{"sourcé":"aws/lambda"}"#)) == "cloud.aws.lambda")
        #expect(mappedObject.tag(of: ByteBuffer(string: #"{"sourc\\u00e9":"aws/lambda"}"#)) == "cloud.aws.default")
    }

    /// A field path reaches into nested objects when no top-level key is the whole path, as obfuscate
    /// paths do: CloudTrail's `userIdentity.type`, a GuardDuty finding's `detail.type`.
    @Test func aDottedFieldPathReachesIntoNestedObjects() {
        let tagger = RecordTagger(
            tag: "cloud.aws.default",
            fieldRule: .mapping(
                field: "userIdentity.type",
                mapping: ["Root": "cloud.aws.root", "IAMUser": "cloud.aws.iam"],
                fallback: nil
            )
        )
        var object = tagger.forObject(key: "x")
        #expect(
            object.tag(of: ByteBuffer(string: #"{"a":1,"userIdentity":{"arn":"x","type":"Root"}}"#)) == "cloud.aws.root"
        )
        #expect(object.tag(of: ByteBuffer(string: #"{"userIdentity.type":"IAMUser"}"#)) == "cloud.aws.iam")
        #expect(
            object.tag(of: ByteBuffer(string: #"{"userIdentity":{"type":"Root"},"userIdentity.type":"IAMUser"}"#))
                == "cloud.aws.iam",
            "the flat key first"
        )
        #expect(object.tag(of: ByteBuffer(string: #"{"user\u0049dentity":{"t\u0079pe":"Root"}}"#)) == "cloud.aws.root")
        #expect(object.tag(of: ByteBuffer(string: #"{"userIdentity":"Root"}"#)) == "cloud.aws.default")
        #expect(object.tag(of: ByteBuffer(string: #"{"userIdentity":{"type":7}}"#)) == "cloud.aws.default")
        #expect(object.tag(of: ByteBuffer(string: #"{"userIdentity":[{"type":"Root"}]}"#)) == "cloud.aws.default")
        #expect(object.fallbacks == 3)
        let deeper = Array("a.b.c".utf8)
        func value(_ text: String) -> String? {
            let bytes = Array(text.utf8)
            return bytes.withUnsafeBytes { raw in
                JSONFieldReader.stringValue(atPath: deeper, in: raw).map { String(decoding: raw[$0], as: UTF8.self) }
            }
        }
        #expect(value(#"{"a":{"b.c":"one"}}"#) == "one")
        #expect(value(#"{"a.b":{"c":"two"}}"#) == "two")
        #expect(value(#"{"a":{"x":1,"b":{"c":"three"}}}"#) == "three")
        #expect(value(#"{"a":{"b":{}},"a.b":{"c":"four"}}"#) == "four")
        #expect(value(#"{"a":{"b":"c"}}"#) == nil)
    }

    /// Random objects whose values nest the field's name in objects, arrays and strings, every other one
    /// damaged: where Foundation's parser reads the object, the field read is the top-level value it finds
    /// there (a string's bytes its text still escaped, a field the object lacks nil); where it does not, the
    /// reading still ends with an answer.
    @Test func aRandomObjectsFieldIsTheValueFoundationReadsThere() async throws {
        var generator = RandomJSONText(random: SplitMix64(seed: 7_301))
        var found = 0
        for round in 0..<2_000 {
            await Task.yield()
            let (bytes, root) = generator.record(damaged: round % 2 == 1)
            // Half the time one of its fields; else a name that may lie only deeper, or nowhere.
            let fields = (root ?? [:]).keys.sorted()
            let name =
                Bool.random(using: &generator.random) && !fields.isEmpty
                ? fields.randomElement(using: &generator.random)!
                : ["eventName_0", "Records_1", "x_2", "tail_3", "Records"].randomElement(using: &generator.random)!
            let (value, string, scalar) = bytes.withUnsafeBytes { raw in
                (
                    JSONFieldReader.value(of: Array(name.utf8), in: raw).map {
                        String(decoding: raw[$0], as: UTF8.self)
                    },
                    JSONFieldReader.stringValue(of: Array(name.utf8), in: raw).map {
                        String(decoding: raw[$0], as: UTF8.self)
                    },
                    JSONFieldReader.scalarValue(atPath: Array(name.utf8), in: raw).map {
                        (String(decoding: raw[$0.text], as: UTF8.self), $0.isString)
                    }
                )
            }
            guard let root else { continue }
            let text = String(decoding: bytes, as: UTF8.self)
            let expected = root[name].flatMap { RecordSplitterRandomDocumentTests.canonical($0) }
            #expect(value.flatMap { RecordSplitterRandomDocumentTests.canonical(text: $0) } == expected, "\(text)")
            #expect((string != nil) == (root[name] is String), "round \(round): \(name) in \(text)")
            if let string {
                #expect(RecordSplitterRandomDocumentTests.canonical(text: "\"\(string)\"") == expected, "\(text)")
            }
            // A string, number or boolean is a scalar, read as Foundation reads it; null, objects and arrays
            // are none.
            let isScalar = root[name] is String || root[name] is NSNumber
            #expect((scalar != nil) == isScalar, "round \(round): \(name) in \(text)")
            if let (scalarText, isString) = scalar {
                #expect(isString == (root[name] is String), "\(text)")
                let written = isString ? "\"\(scalarText)\"" : scalarText
                #expect(RecordSplitterRandomDocumentTests.canonical(text: written) == expected, "\(text)")
            }
            if expected != nil { found += 1 }
        }
        #expect(found >= 400)
    }

    /// Records of hundreds of bytes, whose nested values before the field are passed over 64 bytes at a time
    /// where no backslash stands: the field found is the one Foundation reads, damaged or not.
    @Test func aLongRandomObjectsFieldIsTheValueFoundationReadsThere() async throws {
        var generator = RandomJSONText(random: SplitMix64(seed: 7_433))
        var found = 0
        for round in 0..<1_000 {
            await Task.yield()
            var bytes = Array(generator.longRecord(depth: 0).utf8)
            if round % 2 == 1 { RecordSplitterRandomDocumentTests.damage(&bytes, random: &generator.random) }
            let root = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
            let name = "k\(Int.random(in: 0..<8, using: &generator.random))"
            let value = bytes.withUnsafeBytes { raw in
                JSONFieldReader.value(of: Array(name.utf8), in: raw).map { String(decoding: raw[$0], as: UTF8.self) }
            }
            guard let root else { continue }
            let expected = root[name].flatMap { RecordSplitterRandomDocumentTests.canonical($0) }
            #expect(
                value.flatMap { RecordSplitterRandomDocumentTests.canonical(text: $0) } == expected,
                "round \(round): \(name) in \(String(decoding: bytes, as: UTF8.self))"
            )
            if expected != nil, bytes.count > 256 { found += 1 }
        }
        #expect(found >= 200)
    }

    /// CloudTrail's `readOnly` is a boolean and a finding's `severity` a number: a mapping's keys are their
    /// text as written, as YAML keys `true` or `404` are; null, objects and arrays fall back.
    @Test func numbersAndBooleansAreMappedByTheirTextAsWritten() {
        let tagger = RecordTagger(
            tag: "cloud.aws.default",
            fieldRule: .mapping(
                field: "readOnly",
                mapping: ["true": "cloud.aws.reads", "false": "cloud.aws.writes", "404": "my.app.missing"],
                fallback: "cloud.aws.other"
            )
        )
        var object = tagger.forObject(key: "a.json")
        #expect(object.tag(of: ByteBuffer(string: #"{"readOnly": true, "x": 1}"#)) == "cloud.aws.reads")
        #expect(object.tag(of: ByteBuffer(string: #"{"readOnly":false}"#)) == "cloud.aws.writes")
        #expect(object.tag(of: ByteBuffer(string: #"{"readOnly":"true"}"#)) == "cloud.aws.reads")
        #expect(object.tag(of: ByteBuffer(string: #"{"readOnly": 404 }"#)) == "my.app.missing")
        #expect(object.tag(of: ByteBuffer(string: #"{"readOnly":404.0}"#)) == "cloud.aws.other")
        #expect(object.tag(of: ByteBuffer(string: #"{"readOnly":null}"#)) == "cloud.aws.other")
        #expect(object.tag(of: ByteBuffer(string: #"{"readOnly":[true]}"#)) == "cloud.aws.other")
        #expect(object.tag(of: ByteBuffer(string: #"{"readOnly":{"a":true}}"#)) == "cloud.aws.other")
        #expect(object.fallbacks == 4)
        let nested = RecordTagger(
            tag: "cloud.aws.default",
            fieldRule: .mapping(field: "detail.severity", mapping: ["8": "cloud.aws.high"], fallback: nil)
        )
        var finding = nested.forObject(key: "a.json")
        #expect(finding.tag(of: ByteBuffer(string: #"{"detail":{"severity":8}}"#)) == "cloud.aws.high")
    }

    @Test func keysAndFieldMappingsChooseTags() {
        let tagger = RecordTagger(
            tag: "cloud.aws.default",
            keyTags: [.init(pattern: KeyPattern("AWSLogs/*/vpcflowlogs/*"), tag: "cloud.aws.vpc.flow")],
            fieldRule: .mapping(
                field: "eventSource",
                mapping: ["s3.amazonaws.com": "cloud.aws.s3.events"],
                fallback: nil
            )
        )
        #expect(tagger.objectTag(key: "AWSLogs/1/vpcflowlogs/us-east-1/x.log.gz") == "cloud.aws.vpc.flow")
        var object = tagger.forObject(key: "AWSLogs/1/CloudTrail/x.json.gz")
        #expect(object.tag(of: ByteBuffer(string: #"{"eventSource":"s3.amazonaws.com"}"#)) == "cloud.aws.s3.events")
        #expect(object.tag(of: ByteBuffer(string: #"{"eventSource":"ec2.amazonaws.com"}"#)) == "cloud.aws.default")
    }

    /// Random short patterns and keys of ASCII and multi-byte characters: the matcher agrees with the
    /// glob's definition, written as a plain recursion over characters.
    @Test func keyPatternsMatchAsTheGlobDefinitionSays() async {
        func reference(_ pattern: Substring, _ key: Substring) -> Bool {
            guard let first = pattern.first else { return key.isEmpty }
            switch first {
            case "*":
                return key.indices.contains { reference(pattern.dropFirst(), key[$0...]) }
                    || reference(pattern.dropFirst(), key[key.endIndex...])
            case "?": return !key.isEmpty && reference(pattern.dropFirst(), key.dropFirst())
            default: return key.first == first && reference(pattern.dropFirst(), key.dropFirst())
            }
        }
        var random = SplitMix64(seed: 2_718)
        for round in 0..<5_000 {
            if round % 100 == 0 { await Task.yield() }
            let pattern = String(
                (0..<Int.random(in: 0...6, using: &random)).map { _ in
                    Array("a/é日*?").randomElement(using: &random)!
                }
            )
            let key = String(
                (0..<Int.random(in: 0...8, using: &random)).map { _ in
                    Array("a/é日").randomElement(using: &random)!
                }
            )
            #expect(
                KeyPattern(pattern).matches(key) == reference(pattern[...], key[...]),
                "\(pattern) against \(key)"
            )
        }
    }

    @Test func keyPatternsAreGlobs() {
        #expect(KeyPattern("*/CloudTrail-Digest/*").matches("AWSLogs/1/CloudTrail-Digest/us-east-1/x.json.gz"))
        #expect(!KeyPattern("*/CloudTrail-Digest/*").matches("AWSLogs/1/CloudTrail/us-east-1/x.json.gz"))
        #expect(KeyPattern("logs/??/*.gz").matches("logs/ab/c/d.gz"))
        #expect(!KeyPattern("logs/??/*.gz").matches("logs/abc.gz"))
        #expect(KeyPattern("*").matches(""))
        #expect(KeyPattern("logs/?/*.gz").matches("logs/é/a.gz"))
        #expect(KeyPattern("logs/??/*").matches("logs/日😀/a"))
        #expect(!KeyPattern("logs/??/*").matches("logs/日/a"))
        #expect(KeyPattern("*/?.json").matches("a/b/ü.json"))
        #expect(!KeyPattern("*/??.json").matches("a/b/ü.json"))
    }
}

@Suite struct OCSFClassTagTests {
    @Test func theClassNameBecomesTheLastWordOfTheTag() {
        let tagger = RecordTagger(tag: "cloud.aws.amazon.security_lake.events", fieldRule: .suffix(field: "class_name"))
        var object = tagger.forObject(key: "aws/ROUTE53/1.0/x.gz.parquet")
        #expect(
            object.tag(of: ByteBuffer(string: #"{"class_uid":3005,"class_name":"API Activity"}"#))
                == "cloud.aws.amazon.security_lake.events.api_activity"
        )
        #expect(
            object.tag(of: ByteBuffer(string: #"{"class_name":"  Detection/Compliance  Finding!"}"#))
                == "cloud.aws.amazon.security_lake.events.detection_compliance_finding"
        )
        #expect(object.tag(of: ByteBuffer(string: #"{"class_name":"—"}"#)) == "cloud.aws.amazon.security_lake.events")
        #expect(object.tag(of: ByteBuffer(string: #"{"class_uid":4001}"#)) == "cloud.aws.amazon.security_lake.events")
        let longest = String(repeating: "a", count: 64)
        #expect(
            object.tag(of: ByteBuffer(string: #"{"class_name":"\#(longest)"}"#))
                == "cloud.aws.amazon.security_lake.events.\(longest)"
        )
        #expect(
            object.tag(of: ByteBuffer(string: #"{"class_name":"\#(longest)b"}"#))
                == "cloud.aws.amazon.security_lake.events",
            "a class name that would make a word of more than 64 bytes is not a table name"
        )
        #expect(object.fallbacks == 3)
    }
}
