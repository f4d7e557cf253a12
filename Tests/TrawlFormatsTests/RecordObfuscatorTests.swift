import Foundation
import NIOCore
import Testing
import TrawlFormats

@Suite struct RecordObfuscatorTests {
    static func apply(_ rules: [RecordObfuscator.Rule], _ record: String, key: String? = "secret") throws -> String {
        let obfuscator = RecordObfuscator(rules: rules, hashKey: key.map { Array($0.utf8) })
        return String(buffer: try obfuscator.apply(to: ByteBuffer(string: record)))
    }

    @Test func dropRemovesTheFieldWhereverItSitsInTheObject() throws {
        let drop = [RecordObfuscator.Rule(path: "b", action: .drop)]
        #expect(try Self.apply(drop, #"{"a":1,"b":2,"c":3}"#) == #"{"a":1,"c":3}"#)
        #expect(try Self.apply(drop, #"{"b":2,"c":3}"#) == #"{"c":3}"#)
        #expect(try Self.apply(drop, #"{"a":1,"b":{"x":[1,2]}}"#) == #"{"a":1}"#)
        #expect(try Self.apply(drop, #"{"b":2}"#) == #"{}"#)
        let both = drop + [RecordObfuscator.Rule(path: "a", action: .drop)]
        #expect(try Self.apply(both, #"{ "a" : 1 , "b" : 2 }"#) == #"{}"#)
    }

    @Test func nestedPathsFlatDottedKeysAndArrayElementsAreReached() throws {
        let mask = [
            RecordObfuscator.Rule(path: "actor.user.name", action: .mask("***")),
            RecordObfuscator.Rule(path: "src.process.user", action: .mask("***")),
            RecordObfuscator.Rule(path: "resources.uid", action: .mask("***")),
        ]
        let ocsf = #"{"actor":{"user":{"name":"alice","uid":"u1"},"session":{"name":"s"}},"time":1}"#
        #expect(
            try Self.apply(mask, ocsf)
                == #"{"actor":{"user":{"name":"***","uid":"u1"},"session":{"name":"s"}},"time":1}"#
        )
        let funnel = #"{"src.process.user":"CORP\\bob","src.process.name":"cmd.exe"}"#
        #expect(try Self.apply(mask, funnel) == #"{"src.process.user":"***","src.process.name":"cmd.exe"}"#)
        let list = #"{"resources":[{"uid":"i-1","type":"ec2"},{"type":"s3"},{"uid":null}],"resourcesX":{"uid":"k"}}"#
        #expect(
            try Self.apply(mask, list)
                == #"{"resources":[{"uid":"***","type":"ec2"},{"type":"s3"},{"uid":null}],"resourcesX":{"uid":"k"}}"#
        )
    }

    @Test func aRecordNoRuleReachesComesBackUnchanged() throws {
        let obfuscator = RecordObfuscator(rules: [.init(path: "user.name", action: .drop)], hashKey: nil)
        let record = ByteBuffer(string: #"{ "user" : 7, "other": {"name": "x"} }"#)
        #expect(try obfuscator.apply(to: record) == record)
    }

    /// A key is the text a JSON parser reads: a writer that escapes more than it must (Python's
    /// `ensure_ascii` writes `usuário` as `usu\u00e1rio`, PHP writes `/` as `\/`) must not let a value
    /// through in clear.
    @Test func keysWrittenWithEscapesAreMatchedByTheirText() throws {
        let rules = [
            RecordObfuscator.Rule(path: "usuário", action: .mask("***")),
            RecordObfuscator.Rule(path: "src/ip", action: .drop),
            RecordObfuscator.Rule(path: "actor.user.name", action: .mask("***")),
        ]
        #expect(try Self.apply(rules, #"{"usu\u00e1rio":"bob","n":1}"#) == #"{"usu\u00e1rio":"***","n":1}"#)
        #expect(try Self.apply(rules, #"{"src\/ip":"10.0.0.1","n":1}"#) == #"{"n":1}"#)
        #expect(
            try Self.apply(rules, #"{"act\u006fr":{"user\u002ename":"alice"},"n":1}"#)
                == #"{"act\u006fr":{"user\u002ename":"***"},"n":1}"#
        )
        #expect(
            try Self.apply(rules, #"{"actor\u002euser":{"name":"alice"}}"#) == #"{"actor\u002euser":{"name":"***"}}"#
        )
        let nearMisses = #"{"usu\u00e1ri":"kept","usu\\u00e1rio":"kept","src\\/ip":"kept"}"#
        #expect(try Self.apply(rules, nearMisses) == nearMisses)
    }

    @Test func hashesAreKeyedStableAndSeeTheUnescapedText() throws {
        let hash = [RecordObfuscator.Rule(path: "ip", action: .hash)]
        let plain = try Self.apply(hash, #"{"ip":"10.0.0.1"}"#)
        let escaped = try Self.apply(hash, #"{"ip":"10\u002e0.0.1"}"#)
        let otherKey = try Self.apply(hash, #"{"ip":"10.0.0.1"}"#, key: "another")
        #expect(plain == escaped)
        #expect(plain != otherKey)
        #expect(plain.hasPrefix(#"{"ip":"hmac-sha256:"#) && plain.count == #"{"ip":"hmac-sha256:"}"#.count + 32)
        #expect(!plain.contains("10.0.0.1"))
        #expect(try Self.apply(hash, #"{"ip":null,"n":1}"#) == #"{"ip":null,"n":1}"#)
        let number = try Self.apply(hash, #"{"ip":167772161}"#)
        #expect(number != plain && number.hasPrefix(#"{"ip":"hmac-sha256:"#))
    }

    @Test func theMaskIsWrittenAsAValidJSONString() throws {
        let out = try Self.apply([.init(path: "a", action: .mask("<\"hidden\"\\>"))], #"{"a":[1,2]}"#)
        let parsed = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: String]
        #expect(parsed == ["a": "<\"hidden\"\\>"])
    }

    @Test func recordsThatAreNotJSONObjectsFailRatherThanLeak() {
        let obfuscator = RecordObfuscator(rules: [.init(path: "a", action: .drop)], hashKey: nil)
        for bad in [#"["a"]"#, #"{"a":"#, #"{"a":1"#, "plain text", #"{"a":1} trailing"#, #"{"a" 1}"#] {
            #expect(throws: RecordFormatFailure.self, "\(bad)") {
                _ = try obfuscator.apply(to: ByteBuffer(string: bad))
            }
        }
        let deep = "{\"a\":" + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}"
        let below = RecordObfuscator(rules: [.init(path: "a.b", action: .drop)], hashKey: nil)
        #expect(throws: RecordFormatFailure.self) { _ = try below.apply(to: ByteBuffer(string: deep)) }
    }
}
