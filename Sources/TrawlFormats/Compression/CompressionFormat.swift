/// How an object's bytes are compressed, told by its first bytes rather than its key's suffix: S3 keys lie
/// (`.gz` objects stored uncompressed, compressed objects without a suffix), magic bytes do not.
public enum CompressionFormat: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Gzip (`1f 8b`), possibly several concatenated members.
    case gzip
    /// Zstandard frames (`28 b5 2f fd`).
    case zstd
    /// The snappy framing format (`ff 06 00 00 73 4e 61 50 70 59`).
    case snappyFramed = "snappy"
    /// bzip2 streams (`42 5a 68`, "BZh", a level digit, then a block's or the end's magic).
    case bzip2
    /// Anything else is read as is.
    case none

    /// The most bytes ``detect(_:)`` looks at.
    public static let magicLength = 10

    private static let snappyMagic: [UInt8] = [0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59]
    private static let bzip2BlockMagic: [UInt8] = [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]
    private static let bzip2EndMagic: [UInt8] = [0x17, 0x72, 0x45, 0x38, 0x50, 0x90]

    /// The format whose magic `prefix` starts with; give it ``magicLength`` bytes unless the object is shorter.
    public static func detect<Bytes: Collection<UInt8>>(_ prefix: Bytes) -> CompressionFormat {
        let bytes = Array(prefix.prefix(Self.magicLength))
        if bytes.starts(with: [0x1f, 0x8b]) { return .gzip }
        if bytes.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) { return .zstd }
        if bytes.starts(with: Self.snappyMagic) { return .snappyFramed }
        if bytes.count >= 4, bytes.starts(with: [0x42, 0x5a, 0x68]), (0x31...0x39).contains(bytes[3]) {
            // "BZh1" to "BZh9" starts text too; a stream goes on with a block's magic (pi) or the end's (sqrt pi).
            let rest = bytes.dropFirst(4)
            if Self.bzip2BlockMagic.starts(with: rest) || Self.bzip2EndMagic.starts(with: rest) { return .bzip2 }
        }
        return .none
    }

    /// The format an object's key names by its suffix (`.gz`, `.gzip`, `.zst`, `.zstd`, `.bz2`, `.sz`,
    /// `.snappy`, any case); ``none`` when it names none. Detection goes by the bytes; the name only tells a
    /// compressed object whose first bytes were damaged (read as uncompressed, its binary sent as records)
    /// from an uncompressed one named as if compressed.
    public static func named(byKey key: some StringProtocol) -> CompressionFormat {
        guard let dot = key.lastIndex(of: ".") else { return .none }
        switch key[key.index(after: dot)...].lowercased() {
        case "gz", "gzip": return .gzip
        case "zst", "zstd": return .zstd
        case "bz2": return .bzip2
        case "sz", "snappy": return .snappyFramed
        default: return .none
        }
    }

    /// Whether an object's first bytes read as text in a single-byte encoding or UTF-8: no control bytes but
    /// tab, line feed, vertical tab, form feed, carriage return and escape (colour codes in logs).
    /// Compressed bytes fail this within their first few: 512 random bytes pass once in about 10^25.
    public static func startsLikeText<Bytes: Collection<UInt8>>(_ prefix: Bytes) -> Bool {
        prefix.allSatisfy { $0 >= 0x20 || (0x09...0x0D).contains($0) || $0 == 0x1B }
    }

    /// Whether an object's first bytes are UTF-8, but for a character cut short at their end (where the
    /// object goes on). Compressed bytes fail this within their first few, as they fail ``startsLikeText(_:)``;
    /// a UTF-8 log padded with zero bytes passes it.
    public static func startsLikeUTF8<Bytes: Collection<UInt8>>(_ prefix: Bytes) -> Bool {
        let bytes = Array(prefix)
        var end = bytes.count
        var last = end - 1
        while last >= 0, end - last < 4, bytes[last] & 0xC0 == 0x80 { last -= 1 }
        if last >= 0 {
            let lead = bytes[last]
            let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
            if end - last < length { end = last }
        }
        return String(validating: bytes[..<end], as: UTF8.self) != nil
    }

    public var description: String { self.rawValue }
}
