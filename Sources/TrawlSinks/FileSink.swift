import NIOCore
import NIOPosix
import Synchronization
import TrawlCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The `file` output: appends each event's Devo syslog line to a file and fsyncs after every write, so an
/// acknowledged event is on disk. A failed write is cut back off the file before the retry, so a retried
/// batch is not written twice.
public final class FileSink: EventSink {
    public let name: String
    public let path: String
    private let framer: DevoSyslogFramer
    private let descriptor = Mutex<Int32?>(nil)

    public init(name: String, path: String, framer: DevoSyslogFramer) {
        self.name = name
        self.path = path
        self.framer = framer
    }

    public var accepts: EventKinds { self.framer.accepts }

    public func write(_ batches: [EventBatch]) async throws {
        var buffer = ByteBuffer()
        try self.framer.frame(batches, into: &buffer, output: self.name)
        let framed = buffer
        // write and fsync block: they run on NIO's thread pool, never on the concurrency pool sources share.
        try await NIOThreadPool.singleton.runIfActive { try self.append(framed) }
    }

    private func append(_ buffer: ByteBuffer) throws(TrawlError) {
        try self.descriptor.withLock { slot throws(TrawlError) in
            let fd: Int32
            if let open = slot {
                fd = open
            } else {
                fd = try self.open()
                slot = fd
            }
            let before = lseek(fd, 0, SEEK_END)
            let written = buffer.withUnsafeReadableBytes { bytes in writeAll(fd, bytes) }
            if !written || fsync(fd) != 0 {
                let reason = errnoDescription()
                if before >= 0 { ftruncate(fd, before) }
                throw TrawlError(
                    .sinkWriteFailed,
                    "output \(self.name) cannot append to \(self.path): \(reason)",
                    location: "outputs.\(self.name).settings.path"
                )
            }
        }
    }

    public func close() async throws {
        self.descriptor.withLock { slot in
            if let fd = slot { Glibc.close(fd) }
            slot = nil
        }
    }

    private func open() throws(TrawlError) -> Int32 {
        if let slash = self.path.lastIndex(of: "/") {
            var current = self.path.hasPrefix("/") ? "" : "."
            for component in self.path[..<slash].split(separator: "/") {
                current += "/\(component)"
                mkdir(current, 0o755)
            }
        }
        let fd = Glibc.open(self.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw TrawlError(
                .sinkWriteFailed,
                "output \(self.name) cannot open \(self.path): \(errnoDescription())",
                location: "outputs.\(self.name).settings.path"
            )
        }
        return fd
    }
}

/// The `console` output: writes each event's Devo syslog line to standard output.
public struct ConsoleSink: EventSink {
    public let name: String
    private let framer: DevoSyslogFramer

    public init(name: String, framer: DevoSyslogFramer) {
        self.name = name
        self.framer = framer
    }

    public var accepts: EventKinds { self.framer.accepts }

    public func write(_ batches: [EventBatch]) async throws {
        var buffer = ByteBuffer()
        try self.framer.frame(batches, into: &buffer, output: self.name)
        let written = buffer.withUnsafeReadableBytes { writeAll(STDOUT_FILENO, $0) }
        guard written else {
            throw TrawlError(
                .sinkWriteFailed,
                "output \(self.name) cannot write to standard output: \(errnoDescription())"
            )
        }
    }

    public func close() async throws {}
}
