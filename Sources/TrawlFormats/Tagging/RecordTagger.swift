import NIOCore

/// Decides the Devo table of each record: a static tag, or one chosen by the object's key (the seeds'
/// "dynamic filenames"), refined per record by the value of a field (the seeds' "custom tagging off of
/// record field mapping"), or by Cloud Funnel's event category.
public struct RecordTagger: Sendable {
    /// A tag for the objects whose key matches `pattern`.
    public struct KeyTag: Sendable, Equatable {
        public var pattern: KeyPattern
        public var tag: String

        public init(pattern: KeyPattern, tag: String) {
            self.pattern = pattern
            self.tag = tag
        }
    }

    /// How a record's own field picks its tag.
    public enum FieldRule: Sendable {
        /// `mapping[value]`, else `fallback` (the object's tag when nil). `field` is a top-level key or a
        /// dotted path into nested objects; its value a string, number or boolean, mapped by its text
        /// (``JSONFieldReader/scalarValue(atPath:in:)``).
        case mapping(field: String, mapping: [String: String], fallback: String?)
        /// Cloud Funnel: `edr.sentinelone.dv.<event.category>` for known categories, else `fallback`.
        case cloudFunnel(fallback: String)
        /// The object's tag with the field's value as one more word: `<tag>.<value>`, the value lowercased
        /// and every run of other characters than letters and digits made one `_` (OCSF `class_name`
        /// "API Activity" gives `cloud.aws.amazon.security_lake.events.api_activity`); the object's tag
        /// when the field is missing.
        case suffix(field: String)
    }

    public var tag: String
    public var keyTags: [KeyTag]
    public var fieldRule: FieldRule?

    public init(tag: String, keyTags: [KeyTag] = [], fieldRule: FieldRule? = nil) {
        self.tag = tag
        self.keyTags = keyTags
        self.fieldRule = fieldRule
    }

    /// The tag of the records of the object at `key` before any field rule.
    public func objectTag(key: String) -> String {
        self.keyTags.first { $0.pattern.matches(key) }?.tag ?? self.tag
    }

    /// A tagger for one object, caching the tags it computed (records repeat a handful of values).
    public func forObject(key: String) -> ObjectTagger {
        ObjectTagger(objectTag: self.objectTag(key: key), rule: self.fieldRule)
    }
}

/// Tags the records of one object; counts the records that fell back to the default tag.
public struct ObjectTagger {
    public let objectTag: String
    private let field: [UInt8]?
    private let rule: RecordTagger.FieldRule?
    private var cache = FieldValueTags()
    /// Records whose field was missing or unknown, so took the fallback tag.
    public private(set) var fallbacks = 0

    init(objectTag: String, rule: RecordTagger.FieldRule?) {
        self.objectTag = objectTag
        self.rule = rule
        switch rule {
        case .mapping(let field, _, _): self.field = Array(field.utf8)
        case .cloudFunnel: self.field = Array("event.category".utf8)
        case .suffix(let field): self.field = Array(field.utf8)
        case nil: self.field = nil
        }
    }

    /// The tag of `record`.
    public mutating func tag(of record: ByteBuffer) -> String {
        guard let field = self.field, let rule = self.rule else { return self.objectTag }
        let found: (tag: String?, value: [UInt8]?, isString: Bool) = record.withUnsafeReadableBytes { bytes in
            // A mapping's keys may be numbers or booleans as written (`readOnly: true`); the other rules
            // read names, which are strings.
            let located: (text: Range<Int>, isString: Bool)?
            if case .mapping = rule {
                located = JSONFieldReader.scalarValue(atPath: field, in: bytes)
            } else {
                located = JSONFieldReader.stringValue(atPath: field, in: bytes).map { ($0, true) }
            }
            guard let located else { return (nil, nil, true) }
            let value = UnsafeRawBufferPointer(rebasing: bytes[located.text])
            if let tag = self.cache.tag(of: value) { return (tag, nil, located.isString) }
            return (nil, Array(value), located.isString)
        }
        if let cached = found.tag { return cached }
        let value = found.value
        // The value's text, as a parser reads it: `"aws\/lambda"` maps as `aws/lambda`; a number or boolean
        // as written.
        let text = value.map { raw in found.isString ? raw.withUnsafeBytes { JSONStringText.unescape($0) } : raw }
        let tag: String?
        switch rule {
        case .mapping(_, let mapping, _):
            tag = text.flatMap { mapping[String(decoding: $0, as: UTF8.self)] }
        case .cloudFunnel:
            tag = text.flatMap { CloudFunnelCategorizer.tag(forCategory: $0) }
        case .suffix:
            tag = text.flatMap { Self.tagWord($0) }.map { "\(self.objectTag).\($0)" }
        }
        guard let tag else {
            self.fallbacks += 1
            switch rule {
            case .mapping(_, _, let fallback): return fallback ?? self.objectTag
            case .cloudFunnel(let fallback): return fallback
            case .suffix: return self.objectTag
            }
        }
        if let value { self.cache.insert(value, tag: tag) }
        return tag
    }
}

extension ObjectTagger {
    /// The longest word a field value gives a tag: OCSF class names are a few words, and a value from a
    /// corrupt or hostile record must not make a table name of kilobytes.
    static let maxTagWordBytes = 64

    /// `value` as one word of a Devo tag: lowercase letters and digits, other runs as one `_`; nil when
    /// nothing is left (an empty value, escapes only) or more than ``maxTagWordBytes`` would be.
    static func tagWord(_ value: [UInt8]) -> String? {
        var word: [UInt8] = []
        var gap = false
        for byte in value {
            let lower = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
            if (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(lower)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(lower)
            {
                if gap, !word.isEmpty { word.append(UInt8(ascii: "_")) }
                word.append(lower)
                gap = false
            } else {
                gap = true
            }
        }
        guard !word.isEmpty, word.count <= Self.maxTagWordBytes else { return nil }
        return String(decoding: word, as: UTF8.self)
    }
}

/// The tags of the field values seen so far. Objects carry few distinct values (Cloud Funnel has some twenty
/// categories), so a short list compared byte for byte, without allocating or hashing, answers nearly every
/// record; values past the first 64 are looked up each time.
struct FieldValueTags {
    private var values: [[UInt8]] = []
    private var tags: [String] = []
    private let limit = 64

    func tag(of value: UnsafeRawBufferPointer) -> String? {
        for index in self.values.indices {
            let known = self.values[index]
            if known.count == value.count, known.elementsEqual(value) { return self.tags[index] }
        }
        return nil
    }

    mutating func insert(_ value: [UInt8], tag: String) {
        guard self.values.count < self.limit else { return }
        self.values.append(value)
        self.tags.append(tag)
    }
}

/// SentinelOne Deep Visibility (Cloud Funnel) categories and their Devo tables,
/// `edr.sentinelone.dv.<event.category>`.
public enum CloudFunnelCategorizer {
    /// Every category seen in public fixtures and documentation (`driver` and `group` unverified).
    public static let categories: [String] = [
        "process", "cross_process", "dns", "file", "ip", "logins", "registry", "scheduled_task", "module",
        "command_script", "indicators", "threat_intelligence_indicators", "url", "driver", "group",
    ]
    private static let known: Set<[UInt8]> = Set(Self.categories.map { Array($0.utf8) })

    /// The tag of a record of `category` (its raw bytes), or nil when the category is unknown.
    public static func tag(forCategory category: [UInt8]) -> String? {
        guard Self.known.contains(category) else { return nil }
        return "edr.sentinelone.dv.\(String(decoding: category, as: UTF8.self))"
    }

    /// The tag used for records whose category is missing or unknown, unless configured otherwise.
    public static let defaultFallbackTag = "edr.sentinelone.dv.unknown"
}
