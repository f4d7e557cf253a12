import Testing
import TrawlCore
import TrawlFormats
import TrawlSources
import TrawlTesting

@Suite struct SQSObjectSettingsTests {
    static let queue = "queue_name: q, region: us-east-1"

    static func errors(_ yaml: String) -> [TrawlError] {
        SettingsFixture.decode(SQSObjectSettings.self, yaml: "{\(queue), \(yaml)}", path: "inputs.lake.services.events")
            .errors
    }

    @Test func obfuscationRulesAreDecodedWithTheirActions() throws {
        let settings = try SettingsFixture.valid(
            SQSObjectSettings.self,
            yaml: """
                {\(Self.queue), obfuscation_key: "0123456789abcdef",
                 obfuscate: [{path: a.b, action: drop}, {path: c, action: mask}, {path: d, action: mask, mask: "#"},
                             {path: e.f, action: hash}]}
                """
        )
        #expect(
            settings.obfuscate == [
                .init(path: "a.b", action: .drop), .init(path: "c", action: .mask("***")),
                .init(path: "d", action: .mask("#")), .init(path: "e.f", action: .hash),
            ]
        )
        #expect(settings.ackMessages && !settings.ackMessagesGiven)
    }

    /// A list setting written as one value is told to be a list, not "a mapping" (the name given to every
    /// type that was not a scalar).
    @Test func aListSettingWrittenAsOneValueIsToldItIsAList() {
        let strings = Self.errors("exclude_keys: \"*/CloudTrail-Digest/*\"")
        #expect(strings.map(\.message) == ["exclude_keys not of expected type: list of str"])
        #expect(
            strings.first?.fix.hasPrefix("Make sure exclude_keys is a list of strings, e.g. [\"a\", \"b\"]") == true
        )
        let rules = Self.errors("key_tags: {pattern: \"x/*\", tag: my.app.x}")
        #expect(rules.map(\.message) == ["key_tags not of expected type: list"])
    }

    @Test func hashRulesNeedAKeyOfSixteenCharactersThatNoErrorShows() {
        let missing = Self.errors("obfuscate: [{path: ip, action: hash}]")
        #expect(missing.map(\.code.id) == [4])
        #expect(missing.first?.location?.hasPrefix("inputs.lake.services.events.obfuscation_key") == true)
        let short = Self.errors(#"obfuscation_key: "sh0rt-secret", obfuscate: [{path: ip, action: hash}]"#)
        #expect(short.map(\.code.id) == [6])
        #expect(!short.map(\.description).joined().contains("sh0rt-secret"))
    }

    /// `tag_field` and `list_field` name a field: a key or a dotted path, no part of it empty.
    @Test(arguments: [("tag_field", ", tag_mapping: {Root: cloud.aws.root}"), ("list_field", "")])
    func aFieldSettingThatNamesNoFieldIsReportedWhereItIs(setting: String, rest: String) {
        for field in ["\"\"", "userIdentity.", ".type", "a..b"] {
            let errors = Self.errors("\(setting): \(field)\(rest)")
            #expect(errors.map(\.code.id) == [6], "\(field): \(errors)")
            #expect(errors.first?.location?.hasPrefix("inputs.lake.services.events.\(setting)") == true)
        }
        #expect(Self.errors("\(setting): userIdentity.type\(rest)").isEmpty)
    }

    /// A field's value that YAML would read as a number, a boolean or null is quoted to stay text: tagging
    /// CloudTrail by `recipientAccountId` maps account ids such as "123456789012". Yams looks a key up by
    /// its text re-read without quotes, so a quoted number was missed and the whole mapping refused.
    @Test func tagMappingKeysAreTheirTextQuotedOrNot() throws {
        let settings = try SettingsFixture.valid(
            SQSObjectSettings.self,
            yaml: """
                {\(Self.queue), tag_field: recipientAccountId,
                 tag_mapping: {"123456789012": cloud.aws.prod, 210987654321: cloud.aws.dev, "true": my.app.yes,
                               "null": my.app.none, "007": my.app.bond, s3.amazonaws.com: cloud.aws.s3}}
                """
        )
        #expect(
            settings.tagMapping == [
                "123456789012": "cloud.aws.prod", "210987654321": "cloud.aws.dev", "true": "my.app.yes",
                "null": "my.app.none", "007": "my.app.bond", "s3.amazonaws.com": "cloud.aws.s3",
            ]
        )
    }

    @Test func aTagMappingThatIsNotAMappingOfTextsIsReportedWhereItIs() {
        for (mapping, message) in [
            ("[a, b]", "tag_mapping not of expected type: dict"),
            ("{a: [my.app.x]}", "tag_mapping maps \"a\" to a list, not one value"),
            ("{[a]: my.app.x}", "tag_mapping has a key that is not a value: [a]"),
        ] {
            let errors = Self.errors("tag_field: f, tag_mapping: \(mapping)")
            #expect(errors.map(\.message) == [message], "\(mapping)")
            #expect(errors.first?.location?.hasPrefix("inputs.lake.services.events.tag_mapping") == true)
        }
    }

    @Test func badRulesAndSpoolDirectoriesAreReportedWhereTheyAre() {
        let errors = Self.errors(
            "obfuscate: [{path: .a, action: drop}, {path: b, action: shred}, {action: drop}], parquet_spool_directory: /nonexistent/dir"
        )
        let locations = errors.compactMap(\.location).map { $0.split(separator: " ").first.map(String.init) ?? $0 }
        #expect(errors.count == 4, "\(errors)")
        #expect(locations.contains("inputs.lake.services.events.obfuscate[0].path"))
        #expect(locations.contains("inputs.lake.services.events.obfuscate[1].action"))
        #expect(locations.contains("inputs.lake.services.events.obfuscate[2].path"))
        #expect(locations.contains("inputs.lake.services.events.parquet_spool_directory"))
    }

    /// The seeds: "region: This is the region that is in the base url". A different one signs every request
    /// for the wrong region, which SQS refuses with an error that names no setting.
    @Test func aRegionOtherThanTheQueueURLsIsReportedAtRegion() throws {
        let mismatch = SettingsFixture.decode(
            SQSObjectSettings.self,
            yaml: "{base_url: 'https://sqs.us-east-1.amazonaws.com/123456789012/q', region: us-east-2}",
            path: "inputs.s3.services.cloudtrail"
        )
        .errors
        #expect(mismatch.map(\.code.id) == [6], "\(mismatch)")
        #expect(mismatch.first?.location?.hasPrefix("inputs.s3.services.cloudtrail.region") == true)
        #expect(mismatch.first?.description.contains("Set region to us-east-1") == true)
        let emulator = try SettingsFixture.valid(
            SQSObjectSettings.self,
            yaml: "{base_url: 'http://127.0.0.1:5000/123456789012/q', region: eu-west-1}"
        )
        #expect(emulator.region == "eu-west-1")
        let matching = try SettingsFixture.valid(
            SQSObjectSettings.self,
            yaml: "{base_url: 'https://sqs.eu-west-1.amazonaws.com/123456789012/q', region: eu-west-1}"
        )
        #expect(matching.region == "eu-west-1")
    }

    /// The seed makes region mandatory; when base_url is an AWS queue URL the error's fix names the value.
    @Test func aMissingRegionsFixNamesTheRegionInBaseURL() {
        let missing = SettingsFixture.decode(
            SQSObjectSettings.self,
            yaml: "{base_url: 'https://sqs.eu-central-1.amazonaws.com/123456789012/q'}",
            path: "inputs.s3.services.cloudtrail"
        )
        .errors
        #expect(missing.map(\.code.id) == [4], "\(missing)")
        #expect(missing.first?.location?.hasPrefix("inputs.s3.services.cloudtrail.region") == true)
        #expect(missing.first?.fix == "Add region: eu-central-1, the region in base_url.")
        let emulator = SettingsFixture.decode(
            SQSObjectSettings.self,
            yaml: "{base_url: 'http://127.0.0.1:5000/123456789012/q'}",
            path: "inputs.s3.services.cloudtrail"
        )
        .errors
        #expect(emulator.map(\.code.id) == [4], "\(emulator)")
        #expect(emulator.first?.fix == "Add region at inputs.s3.services.cloudtrail.region.")
    }

    @Test func encodingIsUTF8UnlessOneOfTheKnownEncodingsIsNamed() throws {
        let plain = try SettingsFixture.valid(SQSObjectSettings.self, yaml: "{\(Self.queue)}")
        #expect(plain.encoding == .utf8)
        let windows = try SettingsFixture.valid(SQSObjectSettings.self, yaml: "{\(Self.queue), encoding: windows-1252}")
        #expect(windows.encoding == .windows1252)
        let unknown = Self.errors("encoding: ebcdic")
        #expect(unknown.count == 1)
        #expect(unknown.first?.location?.hasPrefix("inputs.lake.services.events.encoding") == true)
        #expect(unknown.first?.description.contains("latin-1, windows-1252, utf-16le, utf-16be") == true)
    }
}
