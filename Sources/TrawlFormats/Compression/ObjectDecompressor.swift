import NIOCore

/// Turns an object's bytes, fed as they arrive, into its decompressed bytes, pulled in pieces of bounded
/// size: memory stays bounded whatever the object's size or compression ratio (a gzip bomb included),
/// because nothing is decompressed before the caller asks for it.
///
/// The format is detected from the first bytes (``CompressionFormat/detect(_:)``), and again from the first
/// bytes it decompresses to: data compressed twice is common where a pipeline compresses what arrived
/// compressed (a Firehose stream set to GZIP over CloudWatch Logs subscription data, which CloudWatch
/// already gzipped), and is read through both layers, up to ``maxLayers``.
public struct ObjectDecompressor {
    /// The most compressions read one inside the other: twice is what pipelines do by mistake; more is no
    /// log, and each layer costs a codec's memory.
    public static let maxLayers = 3

    /// The outermost detected format; nil until enough bytes arrived.
    public var format: CompressionFormat? { self.formats.first }
    /// The detected formats, outermost first: `[gzip, gzip]` for gzip inside gzip.
    public private(set) var formats: [CompressionFormat] = []
    /// The codecs, outermost first, each fed by the one before (the first by the object).
    private var layers: [Layer] = []
    /// The object's bytes until the outermost format is known.
    private var input = ByteBuffer()
    private var inputEnded = false
    /// Bytes the innermost layer produced, gathered to look for another layer's magic; nil when no further
    /// layer can start.
    private var sniffing: ByteBuffer?
    /// Bytes looked at for a magic and found to be no compression's, not handed out yet.
    private var held = ByteBuffer()
    /// Decompressed bytes handed out so far.
    public private(set) var producedBytes: Int64 = 0

    /// Chunks of a type the format says to skip (snappy framing's 0x80-0xfe), and their bytes: a writer may
    /// add them, and a data chunk whose type byte was damaged becomes one, so a reader should say so.
    public var skipped: (chunks: Int, bytes: Int64) {
        self.layers.reduce((0, 0)) { ($0.0 + $1.codec.skipped.chunks, $0.1 + $1.codec.skipped.bytes) }
    }

    /// The formats as a log names them: `gzip`, or `gzip in gzip` for gzip inside gzip.
    public var layout: String {
        self.formats.isEmpty
            ? CompressionFormat.none.description : self.formats.reversed().map(\.description).joined(separator: " in ")
    }

    public init() {}

    /// Adds the next bytes of the object.
    public mutating func feed(_ bytes: ByteBuffer) {
        if self.layers.isEmpty {
            Self.append(bytes, to: &self.input)
        } else {
            self.layers[0].add(bytes)
        }
    }

    /// The object has no more bytes.
    public mutating func endInput() {
        self.inputEnded = true
        if !self.layers.isEmpty { self.layers[0].inputEnded = true }
    }

    /// The next decompressed bytes, at most `maxBytes`; nil when it needs more input, or, after
    /// ``endInput()``, when the object is done.
    ///
    /// - Throws: ``DecompressionFailure`` on corrupt or truncated data.
    public mutating func next(maxBytes: Int = 1 << 18) throws(DecompressionFailure) -> ByteBuffer? {
        if self.layers.isEmpty {
            guard self.input.readableBytes >= CompressionFormat.magicLength || self.inputEnded else { return nil }
            let format = CompressionFormat.detect(self.input.readableBytesView)
            self.formats = [format]
            self.layers = [Layer(format: format, input: self.input, inputEnded: self.inputEnded)]
            self.input = ByteBuffer()
            if format != .none { self.sniffing = ByteBuffer() }
        }
        while var sniffed = self.sniffing {
            while sniffed.readableBytes < CompressionFormat.magicLength,
                let more = try self.pull(self.layers.count - 1, maxBytes: maxBytes)
            {
                Self.append(more, to: &sniffed)
            }
            let innermostDone = self.layers[self.layers.count - 1].done
            guard sniffed.readableBytes >= CompressionFormat.magicLength || innermostDone else {
                self.sniffing = sniffed
                return nil
            }
            let format = CompressionFormat.detect(sniffed.readableBytesView)
            if format == .none {
                self.held = sniffed
                self.sniffing = nil
            } else {
                self.formats.append(format)
                self.layers.append(Layer(format: format, input: sniffed, inputEnded: innermostDone))
                self.sniffing = self.layers.count < Self.maxLayers ? ByteBuffer() : nil
            }
        }
        let piece: ByteBuffer?
        if self.held.readableBytes > 0 {
            piece = self.held.readSlice(length: min(maxBytes, self.held.readableBytes))
        } else {
            piece = try self.pull(self.layers.count - 1, maxBytes: maxBytes)
        }
        guard let piece else { return nil }
        self.producedBytes += Int64(piece.readableBytes)
        return piece
    }

    /// The next bytes layer `index` produces, feeding it from the layer before as it needs; nil when it
    /// needs more of the object, or when it is done.
    private mutating func pull(_ index: Int, maxBytes: Int) throws(DecompressionFailure) -> ByteBuffer? {
        while true {
            if let piece = try self.layers[index].step(maxBytes: maxBytes) { return piece }
            if self.layers[index].done || index == 0 { return nil }
            if let more = try self.pull(index - 1, maxBytes: 1 << 18) {
                self.layers[index].add(more)
            } else if self.layers[index - 1].done {
                self.layers[index].inputEnded = true
            } else {
                return nil
            }
        }
    }

    /// Appends `bytes` to `buffer`, taking them as they are when it is empty.
    fileprivate static func append(_ bytes: ByteBuffer, to buffer: inout ByteBuffer) {
        if buffer.readableBytes == 0 {
            buffer = bytes
        } else {
            var bytes = bytes
            buffer.writeBuffer(&bytes)
        }
    }

    /// One compression: its codec and the bytes it has yet to read.
    private struct Layer {
        let format: CompressionFormat
        let codec: any DecompressionCodec
        var input: ByteBuffer
        var inputEnded: Bool
        /// Its input ended and the codec finished it.
        var done = false
        /// The codec took nothing of the input it has and produced nothing: it is not called again until more
        /// arrives (zstd fails after a few calls without progress).
        var needsInput = false

        mutating func add(_ bytes: ByteBuffer) {
            ObjectDecompressor.append(bytes, to: &self.input)
            self.needsInput = false
        }

        init(format: CompressionFormat, input: ByteBuffer, inputEnded: Bool) {
            self.format = format
            self.input = input
            self.inputEnded = inputEnded
            switch format {
            case .gzip: self.codec = GzipCodec()
            case .zstd: self.codec = ZstdCodec()
            case .bzip2: self.codec = Bzip2Codec()
            case .snappyFramed: self.codec = SnappyFramedCodec()
            case .none: self.codec = IdentityCodec()
            }
        }

        /// Decompresses what it can of its input: at most `maxBytes`, or nil when it needs more input or is
        /// done.
        mutating func step(maxBytes: Int) throws(DecompressionFailure) -> ByteBuffer? {
            guard !self.done, !self.needsInput || self.inputEnded else { return nil }
            let codec = self.codec
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
                if step.produced > 0 { return output }
                if step.consumed == 0 {
                    guard self.inputEnded else {
                        self.needsInput = true
                        return nil
                    }
                    try codec.finish()
                    if self.input.readableBytes > 0 {
                        throw DecompressionFailure(
                            description: "\(self.input.readableBytes) bytes after the end of the \(self.format) data"
                        )
                    }
                    self.done = true
                    return nil
                }
            }
        }
    }
}
