/// CRC-32 (IEEE 802.3, the polynomial of zlib and gzip), to detect torn or corrupted spool records.
public enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        var crc = ~previous
        for byte in bytes { crc = Self.table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return ~crc
    }

    /// The length of the shortest prefix of `running`'s bytes followed by `bytes` whose checksum is `expected`,
    /// counted within `bytes`; nil when none is. `running` is the checksum of the bytes before `bytes` and is
    /// updated to cover what was read (all of `bytes` when nothing matched), so a long run is searched piece
    /// by piece in one pass. It finds where a payload ends when the length in front of it cannot be trusted.
    public static func prefixLength(
        of bytes: UnsafeRawBufferPointer,
        matching expected: UInt32,
        running: inout UInt32
    ) -> Int? {
        var crc = ~running
        defer { running = ~crc }
        for (index, byte) in bytes.enumerated() {
            crc = Self.table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
            if ~crc == expected { return index + 1 }
        }
        return nil
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { Self.checksum($0) }
    }
}
