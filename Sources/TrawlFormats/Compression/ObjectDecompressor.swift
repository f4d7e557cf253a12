import NIOCore

/// Turns an object's bytes, fed as they arrive, into its decompressed bytes, pulled in pieces of bounded
/// size: memory stays bounded whatever the object's size or compression ratio (a gzip bomb included),
/// because nothing is decompressed before the caller asks for it.
///
/// The format is detected from the first bytes (``CompressionFormat/detect(_:)``).
public struct ObjectDecompressor {
    /// The detected format; nil until enough bytes arrived.
    public private(set) var format: CompressionFormat?
    private var codec: (any DecompressionCodec)?
    private var input = ByteBuffer()
    private var inputEnded = false
    /// Decompressed bytes handed out so far.
    public private(set) var producedBytes: Int64 = 0

    /// Chunks of a type the format says to skip (snappy framing's 0x80-0xfe), and their bytes: a writer may
    /// add them, and a data chunk whose type byte was damaged becomes one, so a reader should say so.
    public var skipped: (chunks: Int, bytes: Int64) { self.codec?.skipped ?? (0, 0) }

    public init() {}

    /// Adds the next bytes of the object.
    public mutating func feed(_ bytes: ByteBuffer) {
        if self.input.readableBytes == 0 {
            self.input = bytes
        } else {
            var bytes = bytes
            self.input.writeBuffer(&bytes)
        }
    }

    /// The object has no more bytes.
    public mutating func endInput() {
        self.inputEnded = true
    }

    /// The next decompressed bytes, at most `maxBytes`; nil when it needs more input, or, after
    /// ``endInput()``, when the object is done.
    ///
    /// - Throws: ``DecompressionFailure`` on corrupt or truncated data.
    public mutating func next(maxBytes: Int = 1 << 18) throws(DecompressionFailure) -> ByteBuffer? {
        if self.codec == nil {
            guard self.input.readableBytes >= CompressionFormat.magicLength || self.inputEnded else { return nil }
            let format = CompressionFormat.detect(self.input.readableBytesView)
            self.format = format
            switch format {
            case .gzip: self.codec = GzipCodec()
            case .zstd: self.codec = ZstdCodec()
            case .bzip2: self.codec = Bzip2Codec()
            case .snappyFramed: self.codec = SnappyFramedCodec()
            case .none: self.codec = IdentityCodec()
            }
        }
        guard let codec = self.codec else { return nil }
        var output = ByteBuffer()
        output.reserveCapacity(maxBytes)
        while true {
            var step: (consumed: Int, produced: Int) = (0, 0)
            var failure: DecompressionFailure?
            _ = self.input.withUnsafeReadableBytes { input in
                output.writeWithUnsafeMutableBytes(minimumWritableBytes: 0) { out in
                    let room = UnsafeMutableRawBufferPointer(rebasing: out[0..<min(out.count, maxBytes)])
                    do throws(DecompressionFailure) {
                        step = try codec.process(input, room)
                    } catch {
                        failure = error
                    }
                    return step.produced
                }
            }
            if let failure { throw failure }
            self.input.moveReaderIndex(forwardBy: step.consumed)
            if step.produced > 0 {
                self.producedBytes += Int64(step.produced)
                return output
            }
            if step.consumed == 0 {
                guard self.inputEnded else { return nil }
                try codec.finish()
                if self.input.readableBytes > 0 {
                    throw DecompressionFailure(
                        description:
                            "\(self.input.readableBytes) bytes after the end of the \(self.format ?? .none) data"
                    )
                }
                return nil
            }
        }
    }
}
