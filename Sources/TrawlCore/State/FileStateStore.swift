import CTrawlSystem
import Crypto
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The embedded default state store: one JSON file per service under a directory on the local filesystem,
/// and a file per item (`<service>.items/<2 hex>/<SHA-256 of the name>.json`) for the services that keep
/// many.
///
/// A save writes a temporary file beside the target, fsyncs it, renames it over the target and fsyncs the
/// directory, so the file is always either the previous or the new state, never a torn mix. Processes that
/// share the directory see each other's saves.
public struct FileStateStore: StateStore {
    public let directory: String

    /// - Throws: ``TrawlError/Code/persistenceDirectoryUnusable`` when the directory cannot be created.
    public init(directory: String) throws(TrawlError) {
        self.directory = directory
        try Self.makeDirectories(directory)
    }

    public func path(for key: StateKey) -> String { "\(self.directory)/\(key.relativePath)" }

    /// Also removes temporary files a crash left behind next to the state (never the state itself).
    public func load(_ key: StateKey) throws(TrawlError) -> [UInt8]? {
        let path = self.path(for: key)
        Self.removeLeftovers(of: path)
        return try Self.contents(of: path)
    }

    /// The file's bytes, or nil when it does not exist.
    private static func contents(of path: String) throws(TrawlError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw TrawlError(.stateUnreadable, "cannot open state file: \(errnoDescription())", location: path)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw TrawlError(.stateUnreadable, "cannot read state file: \(errnoDescription())", location: path)
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }

    public func save(_ bytes: [UInt8], for key: StateKey) throws(TrawlError) {
        try Self.replace(self.path(for: key), with: bytes)
    }

    /// The directory of `key`'s items.
    public func itemsDirectory(of key: StateKey) -> String {
        "\(self.directory)/\(key.collectorID)/\(key.input)/\(key.service).items"
    }

    /// Where the item `name` of `key` lives: spread over 256 directories by its hash.
    public func path(ofItem name: String, of key: StateKey) -> String {
        let digest = hexString(SHA256.hash(data: Array(name.utf8)))
        return "\(self.itemsDirectory(of: key))/\(digest.prefix(2))/\(digest).json"
    }

    public func loadItem(_ name: String, of key: StateKey) throws(TrawlError) -> [UInt8]? {
        try Self.contents(of: self.path(ofItem: name, of: key))
    }

    public func saveItem(_ bytes: [UInt8], named name: String, of key: StateKey) throws(TrawlError) {
        try Self.replace(self.path(ofItem: name, of: key), with: bytes)
    }

    public func removeItems(of key: StateKey, olderThan age: Duration) throws(TrawlError) -> Int {
        let horizon = time(nil) - Int(age.components.seconds)
        let root = self.itemsDirectory(of: key)
        var removed = 0
        for shard in directoryEntries(root) ?? [] where shard.utf8.count == 2 {
            for name in directoryEntries("\(root)/\(shard)") ?? [] {
                let path = "\(root)/\(shard)/\(name)"
                var status = stat()
                guard stat(path, &status) == 0, status.st_mtim.tv_sec < horizon else { continue }
                if unlink(path) == 0 { removed += 1 }
            }
        }
        return removed
    }

    /// A hold is a lock on one byte of `<service>.items/holds.lock`, at an offset from the item's name's
    /// SHA-256: an open file description lock (`F_OFD_SETLK`), so each hold is its own open of the file and
    /// two exclude each other within one process as across processes sharing the directory. The kernel
    /// releases it with the descriptor, when the holder closes it or dies.
    public func tryHoldItem(_ name: String, of key: StateKey) throws(TrawlError) -> (any ItemHold)? {
        let path = "\(self.itemsDirectory(of: key))/holds.lock"
        let fd = try Self.openLockFile(path, naming: "the file of held items")
        let digest = Array(SHA256.hash(data: Array(name.utf8)))
        let offset = digest.prefix(8).reduce(UInt64(0)) { ($0 << 8) | UInt64($1) } >> 2
        let result = trawl_try_lock_byte(fd, Int64(offset))
        guard result == 0 else {
            _ = close(fd)
            if result == EAGAIN || result == EACCES { return nil }
            throw TrawlError(
                .persistenceDirectoryUnusable,
                "cannot lock an item in the file of held items: \(String(cString: strerror(result))) (errno \(result))",
                location: path
            )
        }
        return LockedFile(descriptor: fd)
    }

    /// A lease is an exclusive `flock` on `<service>.lease` beside the state, holding the holder's
    /// description; the kernel ends it when the process dies, so another instance on the host (or sharing
    /// the directory on a filesystem with working locks) takes over at its next try.
    public func tryLease(_ key: StateKey, holder: String) throws(TrawlError) -> LeaseAttempt {
        let path = "\(self.directory)/\(key.collectorID)/\(key.input)/\(key.service).lease"
        let fd = try Self.openLockFile(path, naming: "the lease file")
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            let reason = errnoDescription()
            var bytes = [UInt8](repeating: 0, count: 512)
            let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
            _ = close(fd)
            guard busy else {
                throw TrawlError(.persistenceDirectoryUnusable, "cannot lock the lease file: \(reason)", location: path)
            }
            return .heldElsewhere(holder: String(decoding: bytes.prefix(max(0, count)), as: UTF8.self))
        }
        let description = Array(holder.utf8)
        _ = ftruncate(fd, 0)
        _ = description.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return .taken(LockedFile(descriptor: fd))
    }

    /// Opens (creating it and its directory if need be) a file that exists to be locked.
    private static func openLockFile(_ path: String, naming name: String) throws(TrawlError) -> Int32 {
        try Self.makeDirectories(String(path[..<path.lastIndex(of: "/")!]))
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw TrawlError(
                .persistenceDirectoryUnusable,
                "cannot open \(name): \(errnoDescription())",
                location: path
            )
        }
        return fd
    }

    private static func replace(_ path: String, with bytes: [UInt8]) throws(TrawlError) {
        let directory = String(path[..<path.lastIndex(of: "/")!])
        try Self.makeDirectories(directory)
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw TrawlError(.stateWriteFailed, "cannot create \(temporary): \(errnoDescription())", location: path)
        }
        var ok = bytes.withUnsafeBytes { writeAll(fd, $0) }
        ok = ok && fsync(fd) == 0
        let reason = ok ? "" : errnoDescription()
        close(fd)
        guard ok else {
            unlink(temporary)
            throw TrawlError(.stateWriteFailed, "cannot write \(temporary): \(reason)", location: path)
        }
        guard rename(temporary, path) == 0 else {
            let reason = errnoDescription()
            unlink(temporary)
            throw TrawlError(.stateWriteFailed, "cannot rename \(temporary): \(reason)", location: path)
        }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }

    private static func removeLeftovers(of path: String) {
        let slash = path.lastIndex(of: "/")!
        let directory = String(path[..<slash])
        let prefix = "\(path[path.index(after: slash)...]).tmp-"
        for name in directoryEntries(directory) ?? [] where name.hasPrefix(prefix) {
            unlink("\(directory)/\(name)")
        }
    }

    static func makeDirectories(_ path: String) throws(TrawlError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/\(component)"
            if mkdir(current, 0o700) != 0, errno != EEXIST {
                throw TrawlError(
                    .persistenceDirectoryUnusable,
                    "cannot create directory \(current): \(errnoDescription())",
                    location: path
                )
            }
        }
        var status = stat()
        guard stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR else {
            throw TrawlError(.persistenceDirectoryUnusable, "it is not a directory", location: path)
        }
    }
}

/// Writes every byte to a file descriptor, retrying short writes and EINTR; false on error (errno set).
public func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Bool {
    var offset = 0
    while offset < buffer.count {
        let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
        if written < 0 {
            if errno == EINTR { continue }
            return false
        }
        offset += written
    }
    return true
}

/// Reads `count` bytes at `offset` of a file descriptor, retrying short reads and EINTR; nil on error or
/// when the file ends first (errno set on error).
public func readAll(_ fd: Int32, at offset: Int64, count: Int) -> [UInt8]? {
    var bytes = [UInt8](repeating: 0, count: count)
    var done = 0
    while done < count {
        let got = bytes.withUnsafeMutableBytes {
            pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done))
        }
        if got < 0, errno == EINTR { continue }
        guard got > 0 else { return nil }
        done += got
    }
    return bytes
}

/// The text of the current errno.
public func errnoDescription() -> String {
    let code = errno
    guard let text = strerror(code) else { return "errno \(code)" }
    return "\(String(cString: text)) (errno \(code))"
}

/// A lease or an item hold kept as an open, locked file: released by closing it.
final class LockedFile: ServiceLease, ItemHold {
    /// A lock held through an open file cannot be lost while the file is open.
    func stillHeld() async -> Bool { true }

    private let descriptor: Mutex<Int32>

    init(descriptor: Int32) {
        self.descriptor = Mutex(descriptor)
    }

    deinit {
        self.close()
    }

    func release() async {
        self.close()
    }

    private func close() {
        self.descriptor.withLock { descriptor in
            if descriptor >= 0 { closeDescriptor(descriptor) }
            descriptor = -1
        }
    }
}

/// `close(2)`, by a name a type's own `close()` does not shadow.
private func closeDescriptor(_ descriptor: Int32) {
    _ = close(descriptor)
}
