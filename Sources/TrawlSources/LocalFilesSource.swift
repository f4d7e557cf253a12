import Logging
import NIOCore
import TrawlCore
import TrawlFormats

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The `local_files` input: each line of each file in a directory becomes one event. Every cycle it reads
/// what was appended since the committed offset of each file, in units of at most `linesPerCommit` lines,
/// and commits a unit's end offset only once every output accepted the unit. A line still being written
/// (no final newline yet) waits for the next cycle. Used by the quick start and for replaying exports.
///
/// A line longer than `record_max_bytes` stops its file at the line's start (SourceError 306): nothing of
/// it is committed, the other files are still read, and the cycle then fails with that error, so the file
/// stays as it was for the operator to inspect instead of filling memory.
///
/// Files are read in the configured `encoding` (a byte order mark at a file's start overrides it and is
/// skipped): lines are found in that encoding, a line's `\r` of a Windows line end is dropped, and each line
/// is converted to UTF-8. Offsets stay the file's own byte offsets, so a restart resumes where it was.
public struct LocalFilesSource: PullingSource {
    /// What is saved between runs: the committed byte offset of each file, by file name, and how many times
    /// a file was found truncated or replaced (its content is new, so its events get new units).
    public struct State: Codable, Sendable, Equatable {
        public var offsets: [String: Int64]
        public var generations: [String: Int]?

        public init(offsets: [String: Int64] = [:], generations: [String: Int]? = nil) {
            self.offsets = offsets
            self.generations = generations
        }
    }

    public let name: String
    public let settings: LocalFilesSettings
    public let persistence: ServicePersistence<State>
    private static let readSize = 1 << 20

    public init(name: String, settings: LocalFilesSettings, persistence: ServicePersistence<State>) {
        self.name = name
        self.settings = settings
        self.persistence = persistence
    }

    public func pull(_ context: PullContext) async throws -> PullCycleStatistics {
        var state = try await self.persistence.load() ?? State()
        var statistics = PullCycleStatistics()
        let files = try self.listFiles()
        var firstLineTooLong: TrawlError?
        for file in files {
            if context.isShuttingDown { break }
            do {
                try await self.drain(file: file, state: &state, statistics: &statistics, context: context)
            } catch let error as TrawlError where error.code == .localFileLineTooLong {
                if firstLineTooLong == nil {
                    firstLineTooLong = error
                } else {
                    context.logger.error("\(error)", metadata: ["error.id": "\(error.code.id)"])
                }
            }
        }
        if let firstLineTooLong { throw firstLineTooLong }
        return statistics
    }

    private func listFiles() throws(TrawlError) -> [String] {
        guard let entries = directoryEntries(self.settings.directory) else {
            throw TrawlError(
                .sourceReadFailed,
                "the directory of \(self.name) cannot be listed: \(errnoDescription())",
                location: self.settings.directory
            )
        }
        var names: [String] = []
        for name in entries {
            guard !name.hasPrefix("."), name.hasSuffix(self.settings.fileSuffix) else { continue }
            var status = stat()
            guard stat("\(self.settings.directory)/\(name)", &status) == 0, (status.st_mode & S_IFMT) == S_IFREG
            else { continue }
            names.append(name)
        }
        return names.sorted()
    }

    private func drain(
        file: String,
        state: inout State,
        statistics: inout PullCycleStatistics,
        context: PullContext
    ) async throws {
        let path = "\(self.settings.directory)/\(file)"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw TrawlError(.sourceReadFailed, "the file cannot be opened: \(errnoDescription())", location: path)
        }
        defer { close(fd) }
        var offset = state.offsets[file] ?? 0
        let size = lseek(fd, 0, SEEK_END)
        if size < offset {
            context.logger.warning(
                "\(path) is shorter (\(size) bytes) than its committed offset \(offset): it was truncated or replaced, reading it again from the start"
            )
            offset = 0
            state.generations = state.generations ?? [:]
            state.generations![file, default: 0] += 1
        }
        let generation = state.generations?[file] ?? 0
        let unitPrefix = generation > 0 ? "\(path)#\(generation)" : path
        guard size > offset, let text = try Self.fileText(fd, declared: self.settings.encoding, path: path)
        else { return }
        offset = max(offset, text.contentStart)
        guard size > offset else { return }
        statistics.requests += 1
        var pending: [UInt8] = []
        var pendingStart = offset
        var readOffset = offset
        var events: [Event] = []
        var unitStart = offset
        var chunk = [UInt8](repeating: 0, count: Self.readSize)
        while !context.isShuttingDown {
            let count = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(readOffset)) }
            if count < 0 {
                if errno == EINTR { continue }
                throw TrawlError(.sourceReadFailed, "the file cannot be read: \(errnoDescription())", location: path)
            }
            if count == 0 { break }
            readOffset += Int64(count)
            // What `pending` holds before this read is an unfinished line: no newline in it to look for but
            // one whose first byte came last.
            let unfinished = pending.count
            pending.append(contentsOf: chunk[0..<count])
            var lineStart = 0
            while let newline = text.newline(
                in: pending,
                from: max(lineStart, unfinished - text.newlineWidth + 1),
                fileOffset: pendingStart
            ) {
                let lineOffset = pendingStart + Int64(lineStart)
                if let body = text.body(of: pending[lineStart..<newline]) {
                    events.append(
                        Event(
                            tag: self.settings.tag,
                            body: body,
                            metadata: EventMetadata(
                                source: self.name,
                                unit: unitPrefix,
                                offset: lineOffset,
                                pullingID: context.pullingID
                            )
                        )
                    )
                }
                lineStart = newline + text.newlineWidth
                if events.count >= self.settings.linesPerCommit {
                    try await self.commit(
                        events: events,
                        unit: "\(unitPrefix)@\(unitStart)",
                        endOffset: pendingStart + Int64(lineStart),
                        file: file,
                        state: &state,
                        statistics: &statistics,
                        context: context
                    )
                    events.removeAll(keepingCapacity: true)
                    unitStart = pendingStart + Int64(lineStart)
                    if context.isShuttingDown { return }
                }
            }
            pending.removeFirst(lineStart)
            pendingStart += Int64(lineStart)
            if pending.count > self.settings.recordMaxBytes { break }
        }
        let end = pendingStart
        if !events.isEmpty || end > unitStart {
            try await self.commit(
                events: events,
                unit: "\(unitPrefix)@\(unitStart)",
                endOffset: end,
                file: file,
                state: &state,
                statistics: &statistics,
                context: context
            )
        }
        if pending.count > self.settings.recordMaxBytes {
            throw TrawlError(
                .localFileLineTooLong,
                "the line at byte \(end) of \(path) is longer than record_max_bytes (\(self.settings.recordMaxBytes) bytes) and has no newline yet; the file is read up to it",
                location: "\(path):\(end)"
            )
        }
    }

    /// The encoding of the file open as `fd` and where its text starts (after its byte order mark, if any);
    /// nil while the file's first bytes might still become a byte order mark.
    private static func fileText(
        _ fd: Int32,
        declared: TextEncoding,
        path: String
    ) throws(TrawlError) -> LocalFileText? {
        var head = [UInt8](repeating: 0, count: TextEncoding.longestByteOrderMark)
        var count = -1
        while count < 0 {
            count = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
            if count < 0, errno != EINTR {
                throw TrawlError(.sourceReadFailed, "the file cannot be read: \(errnoDescription())", location: path)
            }
        }
        let start = head[0..<count]
        if let mark = TextEncoding.declaredByByteOrderMark(start) {
            return LocalFileText(encoding: mark.encoding, contentStart: Int64(mark.length))
        }
        if TextEncoding.mayBecomeByteOrderMark(start) { return nil }
        return LocalFileText(encoding: declared, contentStart: 0)
    }

    private func commit(
        events: [Event],
        unit: String,
        endOffset: Int64,
        file: String,
        state: inout State,
        statistics: inout PullCycleStatistics,
        context: PullContext
    ) async throws {
        statistics.received += events.count
        let acknowledgement = Acknowledgement(unit: unit)
        try await context.dispatcher.publish(events, acknowledgement: acknowledgement)
        acknowledgement.seal()
        try await acknowledgement.delivered()
        statistics.sent += events.count
        state.offsets[file] = endOffset
        try await self.persistence.save(state)
        context.logger.debug("Committed \(file) up to byte \(endOffset)", metadata: ["unit": "\(unit)"])
    }
}

/// How lines are found and delivered in one file's encoding.
struct LocalFileText {
    let encoding: TextEncoding
    /// Where the text starts: after the file's byte order mark.
    let contentStart: Int64

    private var isUTF16: Bool { self.encoding == .utf16LittleEndian || self.encoding == .utf16BigEndian }

    /// The bytes of a newline (and of a carriage return): two in UTF-16, else one.
    var newlineWidth: Int { self.isUTF16 ? 2 : 1 }

    /// The index in `bytes` of the next newline at or after `from`; `fileOffset` is the file offset of
    /// `bytes[0]`, so that in UTF-16 only whole code units (at even file offsets) are looked at.
    func newline(in bytes: [UInt8], from: Int, fileOffset: Int64) -> Int? {
        guard self.isUTF16 else { return bytes[max(from, 0)...].firstIndex(of: 0x0A) }
        var index = max(from, 0)
        if (fileOffset + Int64(index)) % 2 != 0 { index += 1 }
        let (first, second): (UInt8, UInt8) = self.encoding == .utf16LittleEndian ? (0x0A, 0) : (0, 0x0A)
        while index + 1 < bytes.count {
            if bytes[index] == first, bytes[index + 1] == second { return index }
            index += 2
        }
        return nil
    }

    /// A line's event body, in UTF-8 and without a carriage return before its newline; nil when it is empty.
    func body(of line: ArraySlice<UInt8>) -> ByteBuffer? {
        var line = line
        let carriageReturn: [UInt8] =
            switch self.encoding {
            case .utf16LittleEndian: [0x0D, 0]
            case .utf16BigEndian: [0, 0x0D]
            default: [0x0D]
            }
        if line.count >= carriageReturn.count, line.suffix(carriageReturn.count).elementsEqual(carriageReturn) {
            line.removeLast(carriageReturn.count)
        }
        guard !line.isEmpty else { return nil }
        guard self.encoding != .utf8 else { return ByteBuffer(bytes: line) }
        var transcoder = TextTranscoder(reading: self.encoding)
        var body = transcoder.transcode(ByteBuffer(bytes: line))
        var rest = transcoder.finish()
        body.writeBuffer(&rest)
        return body
    }
}

extension TrawlError.Code {
    public static let localFileLineTooLong = Self(
        kind: "SourceError",
        id: 306,
        title: "line of a local file is too long",
        cause:
            "A file that local_files reads holds a line longer than record_max_bytes without a newline: it is not line-oriented text (a binary file, a JSON document written on one line) or a writer never ends its lines.",
        fix:
            "Move the file out of the directory or narrow file_suffix so it is not read, or raise record_max_bytes if its lines are legitimately that long. The lines before it were delivered; the file's offset stays at the line's start until then."
    )

    /// The codes of the `local_files` input, as listed in docs/errors.md.
    public static let localFilesCatalogue: [Self] = [.localFileLineTooLong]
}
