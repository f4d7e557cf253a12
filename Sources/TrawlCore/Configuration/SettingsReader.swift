import Yams

/// Decodes one section of the configuration (a `Decodable` settings struct) with Yams, recording every
/// problem in ``ConfigurationDiagnostics`` with the setting's full path and line instead of throwing at the
/// first: `SettingsDecoding.decode(MySettings.self, from: node, path: "inputs.x.settings", ...)`.
public enum SettingsDecoding {
    static let contextKey = CodingUserInfoKey(rawValue: "trawl.settings.context")!

    /// Decodes `T` from `node` (an absent node decodes as an empty mapping, so required settings are reported).
    public static func decode<T: Decodable>(
        _ type: T.Type,
        from node: Node?,
        path: String,
        diagnostics: ConfigurationDiagnostics
    ) -> T? {
        let root = node ?? Node.mapping(Node.Mapping([]))
        let context = SettingsDecodingContext(basePath: path, root: root, diagnostics: diagnostics)
        do {
            return try YAMLDecoder().decode(type, from: root, userInfo: [Self.contextKey: context])
        } catch {
            diagnostics.record(
                TrawlError(.settingWrongType, "section cannot be read: \(error)", location: path)
            )
            return nil
        }
    }
}

/// What a ``SettingsReader`` needs to report errors: where the section sits and its nodes (for line numbers).
final class SettingsDecodingContext {
    let basePath: String
    let root: Node
    let diagnostics: ConfigurationDiagnostics

    init(basePath: String, root: Node, diagnostics: ConfigurationDiagnostics) {
        self.basePath = basePath
        self.root = root
        self.diagnostics = diagnostics
    }

    /// `inputs.x.services.y.obfuscate[0].path`: keys joined by dots, list positions in brackets.
    func path(_ codingPath: [any CodingKey]) -> String {
        var path = self.basePath
        for key in codingPath {
            if let index = key.intValue {
                path += "[\(index)]"
            } else if !key.stringValue.isEmpty {
                path += path.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return path
    }

    func location(_ codingPath: [any CodingKey]) -> String {
        self.path(codingPath) + lineSuffix(self.node(at: codingPath))
    }

    /// The node a coding path leads to from the section's root.
    func node(at codingPath: [any CodingKey]) -> Node? {
        var node: Node? = self.root
        for key in codingPath {
            if let index = key.intValue {
                node = node?.sequence.flatMap { index < $0.count ? $0[index] : nil }
            } else {
                node = node?[key.stringValue]
            }
        }
        return node
    }
}

/// A coding key for any string, to list the keys a user actually wrote.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

/// Reads the settings of one section inside a `Decodable` initialiser, validating as it goes:
///
/// ```swift
/// init(from decoder: any Decoder) throws {
///     let settings = SettingsReader(decoder, keys: CodingKeys.self)
///     self.path = settings.string(.path, required: true) ?? ""
///     self.period = settings.int(.period, default: 60, range: 1...86_400) ?? 60
/// }
/// ```
///
/// Missing, mistyped, malformed, out-of-range and unknown settings become numbered SetupErrors.
public struct SettingsReader<Key: CodingKey & CaseIterable> {
    private let container: KeyedDecodingContainer<Key>?
    private let context: SettingsDecodingContext?
    private let codingPath: [any CodingKey]

    public init(_ decoder: any Decoder, keys: Key.Type) {
        self.context = decoder.userInfo[SettingsDecoding.contextKey] as? SettingsDecodingContext
        self.codingPath = decoder.codingPath
        do {
            self.container = try decoder.container(keyedBy: Key.self)
        } catch {
            self.container = nil
            self.context?.diagnostics.record(
                TrawlError(
                    .settingWrongType,
                    "\(self.context?.path(self.codingPath) ?? "section") not of expected type: dict",
                    location: self.context?.location(self.codingPath),
                    fix: "Write this setting as a mapping of keys to values."
                )
            )
            return
        }
        let known = Key.allCases.map(\.stringValue)
        if let written = try? decoder.container(keyedBy: AnyCodingKey.self) {
            for key in written.allKeys where !known.contains(key.stringValue) {
                let suggestion = closest(to: key.stringValue, among: known)
                self.record(
                    .settingUnknown,
                    "unknown setting \(key.stringValue)",
                    at: key,
                    fix: suggestion.map { "Did you mean \($0)? Otherwise remove it." }
                        ?? "Remove it; this section accepts: \(known.joined(separator: ", ")).",
                    note: .unknown(key.stringValue)
                )
            }
        }
    }

    /// The full path of a setting, for messages.
    public func path(_ key: Key) -> String {
        self.context?.path(self.codingPath + [key]) ?? key.stringValue
    }

    /// Records an error about `key`.
    public func record(
        _ code: TrawlError.Code,
        _ message: String,
        at key: any CodingKey,
        fix: String? = nil,
        note: ConfigurationDiagnostics.SettingNote? = nil
    ) {
        self.context?.diagnostics.record(
            TrawlError(code, message, location: self.context?.location(self.codingPath + [key]), fix: fix),
            note: note
        )
    }

    /// Whether `key` is written, whatever its value: a setting given with a bad value is reported for its
    /// value, not also as missing by checks that need it.
    public func contains(_ key: Key) -> Bool {
        self.container?.contains(key) ?? false
    }

    /// The value at `key` decoded as `T`; nil when absent (reported if `required`) or of the wrong type.
    public func value<T: Decodable>(_ key: Key, as type: T.Type = T.self, required: Bool = false) -> T? {
        guard let container else { return nil }
        do {
            if let value = try container.decodeIfPresent(T.self, forKey: key) { return value }
        } catch {
            self.record(
                .settingWrongType,
                "\(key.stringValue) not of expected type: \(typeName(T.self))",
                at: key,
                fix: "Make sure \(key.stringValue) is \(article(typeName(T.self)))."
            )
            return nil
        }
        if required {
            self.record(
                .settingMissing,
                "required setting \(key.stringValue) not found",
                at: key,
                fix: "Add \(key.stringValue) at \(self.path(key)).",
                note: .missing(key.stringValue)
            )
        }
        return nil
    }

    /// A mapping of texts to texts the user chose both sides of (a field's values to Devo tags), read from
    /// the YAML nodes as written. Decoded as a `[String: String]`, a quoted key that YAML would read as a
    /// number, boolean or null (`"123456789012"`, `"true"`) is looked up by Yams as that number and missed,
    /// so the whole mapping was refused, and a key that is a list or a mapping was dropped unsaid. A key's
    /// or value's text is taken as written, quoted or not. Nil when absent or reported.
    public func textMap(_ key: Key) -> [String: String]? {
        guard let container, container.contains(key) else { return nil }
        guard let node = self.context?.node(at: self.codingPath + [key]) else {
            return self.value(key, as: [String: String].self)
        }
        guard let mapping = node.mapping else {
            self.record(
                .settingWrongType,
                "\(key.stringValue) not of expected type: dict",
                at: key,
                fix: "Make sure \(key.stringValue) is a mapping, e.g. {value: my.app.tag}."
            )
            return nil
        }
        var texts: [String: String] = [:]
        for (name, value) in mapping {
            guard let text = name.scalar?.string else {
                self.record(
                    .settingWrongType,
                    "\(key.stringValue) has a key that is not a value: \(Self.flowText(name))",
                    at: key,
                    fix: "Write each key of \(key.stringValue) as one value (quoted if it holds YAML syntax)."
                )
                return nil
            }
            guard let mapped = value.scalar?.string else {
                self.record(
                    .settingWrongType,
                    "\(key.stringValue) maps \"\(text)\" to \(value.sequence != nil ? "a list" : "a mapping"), not one value",
                    at: key,
                    fix: "Give \"\(text)\" one value in \(key.stringValue)."
                )
                return nil
            }
            texts[text] = mapped
        }
        return texts
    }

    /// A node as one line of YAML, for messages.
    private static func flowText(_ node: Node) -> String {
        if let sequence = node.sequence { return "[" + sequence.map(Self.flowText).joined(separator: ", ") + "]" }
        if let mapping = node.mapping {
            return "{" + mapping.map { "\(Self.flowText($0.key)): \(Self.flowText($0.value))" }.joined(separator: ", ")
                + "}"
        }
        return node.scalar?.string ?? ""
    }

    /// A string; when `allowed` is given, it must be one of those words.
    public func string(
        _ key: Key,
        required: Bool = false,
        default fallback: String? = nil,
        allowed: [String]? = nil
    ) -> String? {
        guard let value = self.value(key, as: String.self, required: required) else { return fallback }
        if let allowed, !allowed.contains(value) {
            self.record(
                .settingWrongFormat,
                "\(key.stringValue) must be one of \(allowed.joined(separator: ", ")), not \"\(value)\"",
                at: key,
                fix: "Use one of: \(allowed.joined(separator: ", "))."
            )
            return fallback
        }
        return value
    }

    /// A string that must satisfy `isValid`, described by `format` in the error.
    public func string(
        _ key: Key,
        required: Bool = false,
        default fallback: String? = nil,
        format: String,
        isValid: (String) -> Bool
    ) -> String? {
        guard let value = self.value(key, as: String.self, required: required) else { return fallback }
        guard isValid(value) else {
            self.record(
                .settingWrongFormat,
                "\(key.stringValue) does not match expected format [\(format)]: \"\(value)\"",
                at: key,
                fix: "Make sure \(key.stringValue) has this format: \(format)."
            )
            return fallback
        }
        return value
    }

    /// An integer within `range`.
    public func int(_ key: Key, required: Bool = false, default fallback: Int? = nil, range: ClosedRange<Int>) -> Int? {
        guard let value = self.value(key, as: Int.self, required: required) else { return fallback }
        guard range.contains(value) else {
            self.record(
                .settingOutOfRange,
                "\(key.stringValue) must be greater than or equal to \(range.lowerBound) and less than or equal to \(range.upperBound), not \(value)",
                at: key,
                fix: "Use an integer from \(range.lowerBound) to \(range.upperBound)."
            )
            return fallback
        }
        return value
    }

    /// A boolean (`true`/`false`).
    public func bool(_ key: Key, required: Bool = false, default fallback: Bool) -> Bool {
        self.value(key, as: Bool.self, required: required) ?? fallback
    }

    /// A start date for the first pull, not in the future. Accepted formats: `YYYY-MM-DD`,
    /// `YYYY-MM-DDTHH:MM:SS[.ffffff][Z|+00:00]` (UTC). That it is no older than a year is checked when a
    /// service starts from it (``firstPullStart(from:service:now:)``), not here: the date ages while the
    /// configuration does not change.
    public func historicalPollDatetime(_ key: Key, required: Bool = false, now: UTCTimestamp) -> UTCTimestamp? {
        guard let text = self.value(key, as: String.self, required: required) else { return nil }
        guard let instant = parseUTCDatetime(text) else {
            self.record(
                .settingWrongFormat,
                "\(key.stringValue) does not match expected format [YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ]: \"\(text)\"",
                at: key,
                fix: "Write a UTC date such as 2026-01-31T00:00:00Z."
            )
            return nil
        }
        if instant > now {
            self.record(
                .historicalPollInFuture,
                "Please enter valid date for \(key.stringValue) less than or equal to the current date: \(text)",
                at: key
            )
            return nil
        }
        return instant
    }

    /// A nested section decoded as `T` (its own initialiser validates it); nil when absent.
    public func section<T: Decodable>(_ key: Key, as type: T.Type = T.self) -> T? {
        guard let container else { return nil }
        guard container.contains(key), (try? container.decodeNil(forKey: key)) != true else { return nil }
        do {
            return try container.decode(T.self, forKey: key)
        } catch {
            self.record(.settingWrongType, "\(key.stringValue) cannot be read: \(error)", at: key)
            return nil
        }
    }
}

/// Parses `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS[.f{1,6}][Z|+00:00]` as UTC.
public func parseUTCDatetime(_ text: String) -> UTCTimestamp? {
    let bytes = Array(text.utf8)
    func number(_ start: Int, _ count: Int) -> Int? {
        guard start + count <= bytes.count else { return nil }
        var value = 0
        for byte in bytes[start..<start + count] {
            guard byte >= 48, byte <= 57 else { return nil }
            value = value * 10 + Int(byte - 48)
        }
        return value
    }
    guard bytes.count >= 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
        let year = number(0, 4), let month = number(5, 2), let day = number(8, 2)
    else { return nil }
    if bytes.count == 10 { return UTCTimestamp.fromUTC(year: year, month: month, day: day) }
    guard bytes.count >= 19, bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: " "),
        bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
        let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2)
    else { return nil }
    var index = 19
    var micro = 0
    if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
        index += 1
        var digits = 0
        while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
            if digits < 6 {
                micro = micro * 10 + Int(bytes[index] - 48)
                digits += 1
            }
            index += 1
        }
        guard digits > 0 else { return nil }
        for _ in digits..<6 { micro *= 10 }
    }
    let zone = String(decoding: bytes[index...], as: UTF8.self)
    guard ["", "Z", "+00:00", "+0000"].contains(zone) else { return nil }
    return UTCTimestamp.fromUTC(
        year: year,
        month: month,
        day: day,
        hour: hour,
        minute: minute,
        second: second,
        microsecond: micro
    )
}

private func typeName(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: return "str"
    case is Int.Type: return "int"
    case is Bool.Type: return "bool"
    case is Double.Type: return "float"
    case is [String].Type: return "list of str"
    default: return String(describing: type).hasPrefix("Array<") ? "list" : "dict"
    }
}

private func article(_ name: String) -> String {
    switch name {
    case "str": return "a string"
    case "int": return "an integer"
    case "bool": return "a boolean (true or false)"
    case "float": return "a number"
    case "list of str": return "a list of strings, e.g. [\"a\", \"b\"] (one value too is written as a list)"
    case "list": return "a list, each element on its own \"- \" line or in [ ]"
    default: return "a mapping"
    }
}

/// The known name closest to `word` by edit distance, if close enough to be a typo; else the only known
/// name that holds `word` whole (`chain` for `chain_filename`, `tag_map` for `tag_mapping`), a
/// name shortened or written without its prefix.
func closest(to word: String, among candidates: [String]) -> String? {
    let scored = candidates.map { ($0, editDistance(word, $0)) }.min { $0.1 < $1.1 }
    if let (candidate, distance) = scored, distance <= max(2, word.count / 3) { return candidate }
    guard word.count >= 4 else { return nil }
    let holding = candidates.filter { $0.contains(word) }
    return holding.count == 1 ? holding[0] : nil
}

private func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.utf8)
    let b = Array(b.utf8)
    var previous = Array(0...b.count)
    for i in 1...max(1, a.count) where !a.isEmpty {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in stride(from: 1, through: b.count, by: 1) {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return a.isEmpty ? b.count : previous[b.count]
}

/// Where a service with no saved state starts: its `historical_poll_datetime`, which may be no older than one
/// year. Checked when the service starts from it rather than when the configuration is read, so that a date
/// written once does not, a year later, keep a collector that has run since (and no longer uses the date)
/// from starting again.
///
/// - Throws: SetupError 9 when `start` is more than a year before `now`.
public func firstPullStart(
    from start: UTCTimestamp,
    service: String,
    now: UTCTimestamp = .now()
) throws(TrawlError) -> UTCTimestamp {
    let oneYear: Int64 = 366 * 86_400 * 1_000_000
    guard start.microsecondsSinceEpoch >= now.microsecondsSinceEpoch - oneYear else {
        throw TrawlError(
            .historicalPollTooOld,
            "Please enter valid date for historical_poll_datetime less than or equal to one year: \(start), where \(service) would start as it has no saved state",
            location: service
        )
    }
    return start
}
