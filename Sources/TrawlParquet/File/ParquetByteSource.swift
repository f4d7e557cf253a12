import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Random access to a Parquet file's bytes: the reader fetches the footer, then one column chunk at a time,
/// so a file in S3 (ranged GETs) or on disk is never held whole in memory.
public protocol ParquetByteSource: Sendable {
    /// The file's length in bytes.
    var size: Int { get }
    /// `length` bytes from `offset`; fewer only at the end of the file.
    func read(offset: Int, length: Int) async throws -> ByteBuffer
}

/// A file held in memory (small objects, tests).
public struct ParquetBytes: ParquetByteSource {
    public let bytes: ByteBuffer

    public init(_ bytes: ByteBuffer) {
        self.bytes = bytes
    }

    public var size: Int { self.bytes.readableBytes }

    public func read(offset: Int, length: Int) async throws -> ByteBuffer {
        let start = min(max(0, offset), self.size)
        let count = min(max(0, length), self.size - start)
        return self.bytes.getSlice(at: self.bytes.readerIndex + start, length: count) ?? ByteBuffer()
    }
}

/// A local file, read with `pread`.
public final class ParquetLocalFile: ParquetByteSource {
    public let path: String
    public let size: Int
    private let descriptor: Int32

    /// Opens `path`; throws ``ParquetError`` (`notParquet`) naming the file when it cannot be opened.
    public convenience init(path: String) throws(ParquetError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw ParquetError(
                .notParquet,
                "cannot open: \(String(cString: strerror(errno)))",
                location: .init(file: path)
            )
        }
        try self.init(adopting: descriptor, name: path)
    }

    /// Takes over an open descriptor (a spooled download, already unlinked so that nothing is left behind
    /// after a crash) and closes it when done; `name` names the file in errors.
    public init(adopting descriptor: Int32, name: String) throws(ParquetError) {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw ParquetError(.notParquet, "cannot stat: \(reason)", location: .init(file: name))
        }
        self.path = name
        self.descriptor = descriptor
        self.size = Int(status.st_size)
    }

    deinit { close(self.descriptor) }

    public func read(offset: Int, length: Int) async throws -> ByteBuffer {
        let start = min(max(0, offset), self.size)
        let count = min(max(0, length), self.size - start)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(count)
        var done = 0
        while done < count {
            var got = 0
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count - done) { target in
                got = pread(self.descriptor, target.baseAddress, count - done, off_t(start + done))
                return max(0, got)
            }
            guard got > 0 else {
                throw ParquetError(
                    .truncated,
                    got == 0 ? "the file ended while reading" : "read failed: \(String(cString: strerror(errno)))",
                    location: .init(file: self.path, offset: start + done)
                )
            }
            done += got
        }
        return buffer
    }
}
