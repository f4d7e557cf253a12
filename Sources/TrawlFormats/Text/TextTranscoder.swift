import NIOCore

/// Turns one object's text, fed in pieces as it is decompressed, into UTF-8 for the record splitter.
///
/// A byte order mark at the start of the object decides the encoding whatever was configured (the
/// WHATWG Encoding Standard's rule: a BOM is the writer's own declaration) and is removed, so a UTF-8 CSV
/// saved by Excel does not name its first column "\u{FEFF}time", and a UTF-16 export is read as UTF-16.
/// Without one, the object is read in the configured ``TextEncoding``. UTF-8 pieces are handed on
/// untouched, as are pieces of a single-byte encoding that hold only ASCII; a UTF-16 code unit or
/// surrogate pair split between pieces is joined, and an unpaired surrogate (or a last odd byte) becomes
/// U+FFFD, as invalid UTF-8 does when events are framed.
public struct TextTranscoder: Sendable {
    /// The configured encoding.
    public let declared: TextEncoding
    /// The encoding the object is read in: `declared`, or what its byte order mark says; nil until the
    /// first bytes arrived.
    public private(set) var encoding: TextEncoding?
    /// The object's first bytes, while too few to tell whether they start with a byte order mark.
    private var head = ByteBuffer()
    /// UTF-16: the first byte of a code unit whose second is in the next piece.
    private var oddByte: UInt8?
    /// UTF-16: a high surrogate whose low one is in the next piece.
    private var highSurrogate: UInt16?

    public init(_ declared: TextEncoding) {
        self.declared = declared
    }

    /// A transcoder for text known to be in `encoding` that is not the start of its file or object (a
    /// line read from the middle of a file), so there is no byte order mark to look for.
    public init(reading encoding: TextEncoding) {
        self.declared = encoding
        self.encoding = encoding
    }

    /// The next piece of the object, as UTF-8; empty while the object's first bytes are too few to look
    /// for a byte order mark.
    public mutating func transcode(_ piece: ByteBuffer) -> ByteBuffer {
        if let encoding = self.encoding { return self.convert(piece, encoding) }
        if self.head.readableBytes == 0, piece.readableBytes >= TextEncoding.longestByteOrderMark {
            self.head = piece
        } else {
            var piece = piece
            self.head.writeBuffer(&piece)
            guard self.head.readableBytes >= TextEncoding.longestByteOrderMark else { return ByteBuffer() }
        }
        return self.start()
    }

    /// The object ended: what is left, as UTF-8 (empty when nothing is).
    public mutating func finish() -> ByteBuffer {
        var output = self.encoding == nil ? self.start() : ByteBuffer()
        if self.oddByte != nil || self.highSurrogate != nil {
            output.writeBytes(replacementCharacter)
            self.oddByte = nil
            self.highSurrogate = nil
        }
        return output
    }

    /// Decides the encoding from the first bytes and converts them without their byte order mark.
    private mutating func start() -> ByteBuffer {
        var head = self.head
        self.head = ByteBuffer()
        let encoding: TextEncoding
        if let mark = TextEncoding.declaredByByteOrderMark(head.readableBytesView) {
            encoding = mark.encoding
            head.moveReaderIndex(forwardBy: mark.length)
        } else {
            encoding = self.declared
        }
        self.encoding = encoding
        return self.convert(head, encoding)
    }

    private mutating func convert(_ piece: ByteBuffer, _ encoding: TextEncoding) -> ByteBuffer {
        switch encoding {
        case .utf8: return piece
        case .latin1: return Self.singleByte(piece, windows1252: false)
        case .windows1252: return Self.singleByte(piece, windows1252: true)
        case .utf16LittleEndian: return self.utf16(piece, bigEndian: false)
        case .utf16BigEndian: return self.utf16(piece, bigEndian: true)
        }
    }

    /// Latin-1 or Windows-1252: a piece of ASCII is handed on as it is; otherwise it is measured, then
    /// converted into a buffer of exactly its UTF-8 size (records are slices of it and keep it alive).
    private static func singleByte(_ piece: ByteBuffer, windows1252: Bool) -> ByteBuffer {
        piece.withUnsafeReadableBytes { raw -> ByteBuffer in
            let ascii = asciiPrefixLength(raw)
            guard ascii < raw.count else { return piece }
            let rest = UnsafeRawBufferPointer(rebasing: raw[ascii...])
            var length = ascii
            for byte in rest { length += utf8Length(singleByteScalar(byte, windows1252: windows1252)) }
            var output = ByteBuffer()
            output.reserveCapacity(length)
            output.writeBytes(UnsafeRawBufferPointer(rebasing: raw[..<ascii]))
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: length - ascii) { out in
                var at = 0
                for byte in rest {
                    at += writeUTF8(singleByteScalar(byte, windows1252: windows1252), into: out, at: at)
                }
                return at
            }
            return output
        }
    }

    /// UTF-16 in either byte order; a code unit or surrogate pair cut by the piece's end is kept for the next.
    private mutating func utf16(_ piece: ByteBuffer, bigEndian: Bool) -> ByteBuffer {
        var output = ByteBuffer()
        _ = piece.withUnsafeReadableBytes { raw in
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: (raw.count / 2 + 2) * 3) { out in
                var at = 0
                var index = 0
                func take(_ first: UInt8, _ second: UInt8) {
                    let unit = bigEndian ? UInt16(first) << 8 | UInt16(second) : UInt16(second) << 8 | UInt16(first)
                    if let high = self.highSurrogate {
                        self.highSurrogate = nil
                        if (0xDC00...0xDFFF).contains(unit) {
                            let scalar = 0x10000 + (UInt32(high - 0xD800) << 10) + UInt32(unit - 0xDC00)
                            at += writeUTF8(scalar, into: out, at: at)
                            return
                        }
                        at += writeUTF8(0xFFFD, into: out, at: at)
                    }
                    switch unit {
                    case 0xD800...0xDBFF: self.highSurrogate = unit
                    case 0xDC00...0xDFFF: at += writeUTF8(0xFFFD, into: out, at: at)
                    default: at += writeUTF8(UInt32(unit), into: out, at: at)
                    }
                }
                if let odd = self.oddByte, raw.count > 0 {
                    self.oddByte = nil
                    take(odd, raw[0])
                    index = 1
                }
                while index + 1 < raw.count {
                    take(raw[index], raw[index + 1])
                    index += 2
                }
                if index < raw.count { self.oddByte = raw[index] }
                return at
            }
        }
        guard output.capacity > 2 * output.readableBytes + 4096 else { return output }
        var tight = ByteBuffer()
        tight.reserveCapacity(output.readableBytes)
        tight.writeBuffer(&output)
        return tight
    }
}

private let replacementCharacter: [UInt8] = [0xEF, 0xBF, 0xBD]

/// Windows-1252's characters for the bytes 0x80-0x9F (its five undefined bytes keep their own value).
private let windows1252Controls: [UInt16] = [
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
]

@inline(__always) private func singleByteScalar(_ byte: UInt8, windows1252: Bool) -> UInt32 {
    if windows1252, (0x80..<0xA0).contains(byte) { return UInt32(windows1252Controls[Int(byte) - 0x80]) }
    return UInt32(byte)
}

/// How many bytes from the start are ASCII, eight at a time.
private func asciiPrefixLength(_ raw: UnsafeRawBufferPointer) -> Int {
    var index = 0
    while index + 8 <= raw.count,
        raw.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0
    {
        index += 8
    }
    while index < raw.count, raw[index] < 0x80 { index += 1 }
    return index
}

@inline(__always) private func utf8Length(_ scalar: UInt32) -> Int {
    scalar < 0x80 ? 1 : scalar < 0x800 ? 2 : scalar < 0x10000 ? 3 : 4
}

/// Writes `scalar` as UTF-8 at `at`; answers how many bytes it took.
@inline(__always) private func writeUTF8(_ scalar: UInt32, into out: UnsafeMutableRawBufferPointer, at: Int) -> Int {
    switch scalar {
    case ..<0x80:
        out[at] = UInt8(scalar)
        return 1
    case ..<0x800:
        out[at] = UInt8(0xC0 | scalar >> 6)
        out[at + 1] = UInt8(0x80 | scalar & 0x3F)
        return 2
    case ..<0x10000:
        out[at] = UInt8(0xE0 | scalar >> 12)
        out[at + 1] = UInt8(0x80 | scalar >> 6 & 0x3F)
        out[at + 2] = UInt8(0x80 | scalar & 0x3F)
        return 3
    default:
        out[at] = UInt8(0xF0 | scalar >> 18)
        out[at + 1] = UInt8(0x80 | scalar >> 12 & 0x3F)
        out[at + 2] = UInt8(0x80 | scalar >> 6 & 0x3F)
        out[at + 3] = UInt8(0x80 | scalar & 0x3F)
        return 4
    }
}
