import Foundation
import NIOPosix
import Synchronization
import TrawlCore

#if canImport(Glibc)
import Glibc
#endif

/// A real peer (moto, a proxy, a simulator) run as a child process for a test, on a loopback port.
/// Peers still running when the test process exits are stopped by an exit handler, which also removes
/// their log files.
public final class PeerProcess: Sendable {
    public let port: Int
    public let process: Process
    private let logFile: String

    private static let running = Mutex<[(process: Process, logFile: String)]>([])
    private static let exitHandlerInstalled = Mutex(false)

    /// Starts `arguments[0]` (looked up in PATH); the peer listens on `port` (pass 0 when the peer prints
    /// the port it chose as its first line, or writes it to `portFile`). Returns once the peer itself
    /// listens on the port: a port that merely accepts connections may be another process's, one that took
    /// it while this peer started. A peer that exits before it listens (it could not bind the port) throws a
    /// ``PeerFailed`` whose ``PeerFailed/peerExited`` is true, which ``onFreePort(attempts:_:)`` retries.
    public init(
        _ arguments: [String],
        port: Int,
        portFile: String? = nil,
        environment: [String: String] = [:],
        readiness: Duration = .seconds(60)
    ) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let logFile = "\(FileManager.default.temporaryDirectory.path)/trawl-peer-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        let log = FileHandle(forWritingAtPath: logFile)
        process.standardError = log
        let output = Pipe()
        let printsPort = port == 0 && portFile == nil
        process.standardOutput = printsPort ? output : log
        process.standardInput = FileHandle.nullDevice
        Self.installExitHandler()
        // The child has its own copy of the log; Process keeps this process's open.
        defer { try? log?.close() }
        try process.runAlone()
        Self.running.withLock { $0.append((process, logFile)) }
        self.process = process
        self.logFile = logFile
        let deadline = ContinuousClock.now + readiness
        if let portFile {
            while true {
                let written = try? String(contentsOfFile: portFile, encoding: .utf8)
                if let chosen = written.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
                    self.port = chosen
                    break
                }
                guard process.isRunning, ContinuousClock.now < deadline else {
                    self.port = 0
                    throw self.stopped("\(arguments[0]) wrote no port to \(portFile)", exited: !process.isRunning)
                }
                try await Task.sleep(for: .milliseconds(50))
            }
        } else if printsPort {
            let line = try await Self.firstLine(of: output.fileHandleForReading, until: deadline)
            guard let chosen = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespaces)) else {
                self.port = 0
                throw self.stopped("\(arguments[0]) printed no port", exited: !process.isRunning)
            }
            self.port = chosen
        } else {
            self.port = port
        }
        while !Self.listens(process: process.processIdentifier, port: self.port) {
            guard process.isRunning, ContinuousClock.now < deadline else {
                throw self.stopped("\(arguments[0]) did not listen on port \(self.port)", exited: !process.isRunning)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// The first line `reader` gives (without its newline), read without blocking a thread: the peers of
    /// the tests starting at once wait for their ports together, where blocking reads on the fixtures'
    /// two threads made each wait for the peers ahead of it to start. What was read by `deadline` or the
    /// end of the output when there is no whole line.
    private static func firstLine(
        of reader: FileHandle,
        until deadline: ContinuousClock.Instant
    ) async throws -> [UInt8] {
        let descriptor = reader.fileDescriptor
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while ContinuousClock.now < deadline {
            let count = read(descriptor, &byte, 1)
            if count == 1 {
                if byte == 10 { return line }
                line.append(byte)
            } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                return line
            } else if errno == EAGAIN {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        return line
    }

    /// Stops the peer that failed to start and says why, with what it wrote (read before ``stop()`` removes
    /// its log).
    private func stopped(_ what: String, exited: Bool) -> PeerFailed {
        let log = self.log
        self.stop()
        return PeerFailed(description: "\(what): \(log)", peerExited: exited)
    }

    /// What the peer wrote to stderr (and stdout, when it did not print a port).
    public var log: String {
        (try? String(contentsOfFile: self.logFile, encoding: .utf8)) ?? ""
    }

    /// Kills the peer. SIGKILL, because a test process that used signal handlers (ServiceLifecycle sets
    /// SIGTERM to ignored for its dispatch sources) passes that disposition on to its children.
    public func stop() {
        self.stop(asking: nil)
    }

    /// Sends `signal` first, for peers that clean up after themselves when asked (PostgreSQL removes its
    /// shared memory on a fast shutdown; killed, it leaves it in /dev/shm), and kills the peer if it is
    /// still running after `grace`.
    public func stop(asking signal: Int32?, grace: Duration = .seconds(10)) {
        if let signal, self.process.isRunning {
            kill(self.process.processIdentifier, signal)
            self.process.waitForExit(upTo: grace)
        }
        if self.process.isRunning {
            kill(self.process.processIdentifier, SIGKILL)
            self.process.waitForExit(upTo: .seconds(10))
        }
        Self.running.withLock { $0.removeAll { $0.process === self.process } }
        try? FileManager.default.removeItem(atPath: self.logFile)
    }

    /// The real Python interpreter behind `python3` (not a version-manager shim, which would outlive a
    /// SIGTERM-ed child), so peers written in Python are the very processes stopped.
    public static let python: String = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import sys; print(sys.executable)"]
        let output = Pipe()
        process.standardOutput = output
        guard (try? process.runAlone()) != nil else { return "python3" }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let path = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return path.isEmpty ? "python3" : path
    }()

    /// A peer that accepts connections and never answers, to prove timeouts.
    public static func silentListener() async throws -> PeerProcess {
        try await PeerProcess(
            [
                Self.python, "-c",
                "import socket\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(16)\n"
                    + "print(s.getsockname()[1],flush=True)\nc=[]\nwhile True: c.append(s.accept())",
            ],
            port: 0
        )
    }

    /// Ports this process has handed out: the kernel may give the same free port to two calls in a row, and
    /// a test expecting nothing to listen there then met another test's peer.
    private static let handedOut = Mutex<Set<Int>>([])

    /// A port free at this moment on 127.0.0.1 for TCP and UDP, and not handed out before by this process.
    /// It is chosen below the kernel's ephemeral range (`ip_local_port_range`) when there is room: every
    /// other peer binds port 0 and every client connects from that range, so none of them can take the port
    /// between this call and the peer binding it, as they could a port the kernel had just handed out.
    public static func freePort() throws -> Int {
        let candidates = Self.portsBelowTheEphemeralRange
        for _ in 0..<64 {
            let port: Int
            if let candidates {
                guard let free = Self.freeOnBothTransports(Int.random(in: candidates)) else { continue }
                port = free
            } else {
                port = try Self.kernelFreePort()
            }
            if Self.handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
        throw PeerFailed(description: "no port was free that had not been handed out already")
    }

    /// Unprivileged ports below the first the kernel hands out on its own; nil when that range is too small
    /// to pick from at random, or unknown (no procfs).
    private static let portsBelowTheEphemeralRange: ClosedRange<Int>? = {
        guard
            let bytes = readWholeFile("/proc/sys/net/ipv4/ip_local_port_range"),
            let first = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isWhitespace).first,
            let low = Int(first), low > 12_000
        else { return nil }
        return 10_000...(low - 1)
    }()

    /// `port` when a TCP and a UDP socket can both be bound to it on 127.0.0.1 at this moment, else nil.
    private static func freeOnBothTransports(_ port: Int) -> Int? {
        for type in [SOCK_STREAM, SOCK_DGRAM] {
            let socket = Glibc.socket(AF_INET, Int32(type.rawValue), 0)
            guard socket >= 0 else { return nil }
            defer { close(socket) }
            guard Self.bound(socket, to: port) == port else { return nil }
        }
        return port
    }

    /// Sockets that hold the ports handed out by ``refusingPort()``, open until the test process exits.
    private static let refusingSockets = Mutex<[Int32]>([])

    /// A port on 127.0.0.1 that refuses connections for the rest of the test process: a socket is bound to
    /// it but never listens, so no peer another test starts can take it (a port merely free when it was
    /// handed out could be, and a test expecting a refused connection then met that peer).
    public static func refusingPort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw PeerFailed(description: "socket() failed") }
        guard let port = Self.bound(socket) else {
            close(socket)
            throw PeerFailed(description: "bind() failed")
        }
        Self.refusingSockets.withLock { $0.append(socket) }
        return port
    }

    private static func kernelFreePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw PeerFailed(description: "socket() failed") }
        defer { close(socket) }
        guard let port = Self.bound(socket) else { throw PeerFailed(description: "bind() failed") }
        return port
    }

    /// Binds `socket` to `port` on 127.0.0.1, of the kernel's choosing when 0; the port bound, or nil when
    /// bind failed.
    private static func bound(_ socket: Int32, to port: Int = 0) -> Int? {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(socket, socketAddress, length) == 0 && getsockname(socket, socketAddress, &length) == 0
            }
        }
        return bound ? Int(UInt16(bigEndian: address.sin_port)) : nil
    }

    /// Starts a peer that must be told its port (it can neither choose one nor say which it chose) on a port
    /// free at this moment, and on another one when the peer exited because something took that port
    /// before the peer could bind it.
    public static func onFreePort<Peer>(
        attempts: Int = 3,
        _ start: (_ port: Int) async throws -> Peer
    ) async throws -> Peer {
        var attempt = 1
        while true {
            do {
                return try await start(try Self.freePort())
            } catch let error as PeerFailed where error.peerExited && attempt < attempts {
                attempt += 1
            }
        }
    }

    /// Whether the process `pid` holds a socket listening on `port` (any local address): the kernel's socket
    /// tables (`/proc/net/tcp`, `tcp6`) name the listening socket's inode, and the process's descriptors
    /// (`/proc/<pid>/fd`) show whether it is one of them. Without procfs, whether the port accepts
    /// connections.
    static func listens(process pid: Int32, port: Int) -> Bool {
        guard let inodes = Self.listeningSocketInodes(port: port) else { return Self.accepts(port: port) }
        // A process that exited has no descriptors to read.
        guard !inodes.isEmpty, let descriptors = directoryEntries("/proc/\(pid)/fd") else { return false }
        return descriptors.contains { descriptor in
            guard
                let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(descriptor)")
            else { return false }
            return inodes.contains(target)
        }
    }

    /// `socket:[<inode>]` of every TCP socket listening on `port`, as `/proc/<pid>/fd` links name them; nil
    /// without procfs. The tables are read to their end with ``readWholeFile(_:)``: Foundation's
    /// `String(contentsOfFile:)` stops after the first read, which procfs ends after about 27 sockets, so
    /// a peer listening further down the table was never seen once the tests had a few dozen sockets
    /// listening (a CI run's moto "did not listen" on the port it had printed).
    private static func listeningSocketInodes(port: Int) -> Set<String>? {
        guard let ipv4 = readWholeFile("/proc/net/tcp").map({ String(decoding: $0, as: UTF8.self) }) else {
            return nil
        }
        var inodes = Set<String>()
        let wanted = String(format: "%04X", port)
        let ipv6 = readWholeFile("/proc/net/tcp6").map { String(decoding: $0, as: UTF8.self) } ?? ""
        for text in [ipv4, ipv6] {
            for line in text.split(separator: "\n").dropFirst() {
                // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
                let fields = line.split(separator: " ")
                guard fields.count > 9, fields[3] == "0A", fields[1].split(separator: ":").last == Substring(wanted)
                else { continue }
                inodes.insert("socket:[\(fields[9])]")
            }
        }
        return inodes
    }

    static func accepts(port: Int) -> Bool {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return false }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    private static func installExitHandler() {
        let install = Self.exitHandlerInstalled.withLock { installed -> Bool in
            defer { installed = true }
            return !installed
        }
        guard install else { return }
        // Foundation cannot wait for a child while the process exits, so peers are signalled, not awaited.
        atexit {
            for peer in PeerProcess.running.withLock({ $0 }) {
                kill(peer.process.processIdentifier, SIGKILL)
                unlink(peer.logFile)
            }
        }
    }
}

/// A peer could not be started.
public struct PeerFailed: Error, CustomStringConvertible {
    public var description: String
    /// The peer exited before it listened: most often it could not bind its port.
    public var peerExited: Bool

    public init(description: String, peerExited: Bool = false) {
        self.description = description
        self.peerExited = peerExited
    }
}
