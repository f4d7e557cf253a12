/// How an object's bytes are compressed, told by its first bytes rather than its key's suffix: S3 keys lie
/// (`.gz` objects stored uncompressed, compressed objects without a suffix), magic bytes do not.
public enum CompressionFormat: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Gzip (`1f 8b`), possibly several concatenated members.
    case gzip
    /// Zstandard frames (`28 b5 2f fd`).
    case zstd
    /// The snappy framing format (`ff 06 00 00 73 4e 61 50 70 59`).
    case snappyFramed = "snappy"
    /// bzip2 streams (`42 5a 68`, "BZh").
    case bzip2
    /// Anything else is read as is.
    case none

    /// The most bytes ``detect(_:)`` looks at.
    public static let magicLength = 10

    private static let snappyMagic: [UInt8] = [0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59]

    /// The format whose magic `prefix` starts with; give it ``magicLength`` bytes unless the object is shorter.
    public static func detect<Bytes: Collection<UInt8>>(_ prefix: Bytes) -> CompressionFormat {
        let bytes = Array(prefix.prefix(Self.magicLength))
        if bytes.starts(with: [0x1f, 0x8b]) { return .gzip }
        if bytes.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) { return .zstd }
        if bytes.starts(with: Self.snappyMagic) { return .snappyFramed }
        if bytes.count >= 4, bytes.starts(with: [0x42, 0x5a, 0x68]), (0x31...0x39).contains(bytes[3]) { return .bzip2 }
        return .none
    }

    public var description: String { self.rawValue }
}
