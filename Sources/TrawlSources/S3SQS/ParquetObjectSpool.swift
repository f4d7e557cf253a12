import NIOCore
import TrawlCore
import TrawlParquet

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A Parquet object downloaded to a local file as it streams in. Parquet is read from its footer, at the
/// end, so the object must be whole before reading starts; holding it in memory would bound Trawl by the
/// largest object, a file on disk does not. The file is unlinked as soon as it is created, so it disappears
/// when Trawl closes it, also after a crash.
final class ParquetObjectSpool {
    let descriptor: Int32
    let directory: String
    /// Bytes written so far.
    private(set) var size: Int64 = 0

    /// A new spool file in `directory`.
    ///
    /// - Throws: SourceError 300 (``TrawlError``) when the directory cannot hold it.
    init(directory: String, unit: String) throws {
        var template = Array("\(directory)/trawl-parquet-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw Self.failure("cannot create a spool file in \(directory) for \(unit): \(errnoDescription())", unit)
        }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        unlink(path)
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        self.descriptor = descriptor
        self.directory = directory
    }

    deinit { close(self.descriptor) }

    static func failure(_ message: String, _ unit: String) -> TrawlError {
        TrawlError(
            .sourceReadFailed,
            message,
            location: unit,
            fix:
                "Parquet objects are downloaded whole before reading: give parquet_spool_directory room for the largest object and write permission."
        )
    }

    /// Appends `bytes`.
    func write(_ bytes: ByteBuffer, unit: String) throws {
        try bytes.withUnsafeReadableBytes { raw in
            var done = 0
            while done < raw.count {
                let count = systemWrite(self.descriptor, raw.baseAddress! + done, raw.count - done)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else {
                    throw Self.failure(
                        "cannot spool \(unit) to \(self.directory) after \(self.size) bytes: \(errnoDescription())",
                        unit
                    )
                }
                done += count
                self.size += Int64(count)
            }
        }
    }

    /// The spooled object, for the Parquet reader (which owns a descriptor of its own).
    func file(name: String) throws -> ParquetLocalFile {
        let copy = dup(self.descriptor)
        guard copy >= 0 else { throw Self.failure("cannot reopen the spool of \(name): \(errnoDescription())", name) }
        return try ParquetLocalFile(adopting: copy, name: name)
    }
}

private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, bytes, count)
}
