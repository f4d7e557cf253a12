import Foundation
import Testing
import TrawlCore

@Suite struct JSONStringTests {
    /// Ids, query ids, lookup columns and journal keys go into hand-written JSON: quotes, backslashes and
    /// control characters must read back as they were, not break the document.
    @Test func aLiteralReadsBackAsTheTextItWasMadeOf() throws {
        for text in ["plain", #"a "quoted" \ id"#, "line\nbreak\ttab\r\u{01}\u{1f}", "ñ漢字", ""] {
            let document = Data("{\"id\":\(jsonString(text))}".utf8)
            let object = try JSONSerialization.jsonObject(with: document) as? [String: String]
            #expect(object?["id"] == text)
        }
    }
}
