/// Reads one top-level string field of a JSON object from its bytes, without parsing the rest: what
/// tagging by record field needs on the hot path. Keys are compared byte for byte (dotted keys such as
/// `event.category` are one flat key, as Cloud Funnel writes them).
public enum JSONFieldReader {
    /// The raw bytes between the quotes of the string value of top-level `key` in `object`, or nil when the
    /// object lacks it, holds a non-string there, or is not a JSON object. Escapes are left as they are.
    public static func stringValue(of key: [UInt8], in object: UnsafeRawBufferPointer) -> Range<Int>? {
        let count = object.count
        var index = 0
        func skipBlanks() {
            while index < count, isBlank(object[index]) { index += 1 }
        }
        /// Moves past a string whose opening quote is at `index`; returns the range of its contents.
        func string() -> Range<Int>? {
            let start = index + 1
            var cursor = start
            while cursor < count {
                let byte = object[cursor]
                if byte == UInt8(ascii: "\\") {
                    cursor += 2
                    continue
                }
                if byte == UInt8(ascii: "\"") {
                    index = cursor + 1
                    return start..<cursor
                }
                cursor += 1
            }
            return nil
        }
        /// Moves past any value starting at `index`.
        func skipValue() -> Bool {
            guard index < count else { return false }
            switch object[index] {
            case UInt8(ascii: "\""):
                return string() != nil
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while index < count {
                    let byte = object[index]
                    if byte == UInt8(ascii: "\"") {
                        guard string() != nil else { return false }
                        continue
                    }
                    if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") { depth += 1 }
                    if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                        depth -= 1
                        if depth == 0 {
                            index += 1
                            return true
                        }
                    }
                    index += 1
                }
                return false
            default:
                while index < count {
                    let byte = object[index]
                    if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") || isBlank(byte) { break }
                    index += 1
                }
                return true
            }
        }
        skipBlanks()
        guard index < count, object[index] == UInt8(ascii: "{") else { return nil }
        index += 1
        while true {
            skipBlanks()
            guard index < count, object[index] == UInt8(ascii: "\"") else { return nil }
            guard let name = string() else { return nil }
            skipBlanks()
            guard index < count, object[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            skipBlanks()
            guard index < count else { return nil }
            if name.count == key.count, key.withUnsafeBytes({ memcmpEqual($0, object, at: name.lowerBound) }) {
                guard object[index] == UInt8(ascii: "\"") else { return nil }
                return string()
            }
            guard skipValue() else { return nil }
            skipBlanks()
            guard index < count, object[index] == UInt8(ascii: ",") else { return nil }
            index += 1
        }
    }

    @inline(__always) static func isBlank(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0d || byte == 0x0a
    }

    @inline(__always) static func memcmpEqual(
        _ key: UnsafeRawBufferPointer,
        _ object: UnsafeRawBufferPointer,
        at offset: Int
    ) -> Bool {
        for index in 0..<key.count where key[index] != object[offset + index] { return false }
        return true
    }
}
