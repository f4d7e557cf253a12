import Foundation
import Synchronization

/// Runs an executable of this package (built beside the test bundle) as a child process, as a user would.
public final class BuiltExecutable: Sendable {
    public let process: Process
    private let peakResident = Mutex(0)
    private let outputFile: String
    private let errorFile: String

    /// The directory holding the test bundle and the package's executables (`.build/debug`).
    public static var productsDirectory: String {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("trawl").path) {
                return directory.path
            }
            directory = directory.deletingLastPathComponent()
        }
        return executable.deletingLastPathComponent().path
    }

    /// Starts `name` with `arguments` in `workingDirectory`; stdout and stderr go to files.
    public init(
        _ name: String,
        arguments: [String],
        workingDirectory: String,
        environment: [String: String] = [:]
    ) throws {
        self.process = Process()
        self.process.executableURL = URL(fileURLWithPath: "\(Self.productsDirectory)/\(name)")
        self.process.arguments = arguments
        self.process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory)
        self.process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let id = UUID().uuidString
        self.outputFile = "\(workingDirectory)/.stdout-\(id)"
        self.errorFile = "\(workingDirectory)/.stderr-\(id)"
        _ = FileManager.default.createFile(atPath: self.outputFile, contents: nil)
        _ = FileManager.default.createFile(atPath: self.errorFile, contents: nil)
        let output = FileHandle(forWritingAtPath: self.outputFile)
        let error = FileHandle(forWritingAtPath: self.errorFile)
        self.process.standardOutput = output
        self.process.standardError = error
        self.process.standardInput = FileHandle.nullDevice
        // The child has its own copies; Process keeps this process's open (two per child, hundreds a run).
        defer {
            try? output?.close()
            try? error?.close()
        }
        try self.process.runAlone()
    }

    /// Runs to completion and returns (exit status, stdout, stderr).
    public static func run(
        _ name: String,
        arguments: [String],
        workingDirectory: String,
        environment: [String: String] = [:]
    ) async throws -> (status: Int32, output: String, error: String) {
        let child = try BuiltExecutable(
            name,
            arguments: arguments,
            workingDirectory: workingDirectory,
            environment: environment
        )
        let status = await child.waitForExit()
        return (status, child.standardOutput, child.standardError)
    }

    /// VmHWM of `pid` from /proc, in bytes.
    static func residentHighWater(pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return nil }
        return kilobytes * 1_024
    }

    public var standardOutput: String {
        FileManager.default.contents(atPath: self.outputFile).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// How many bytes the child wrote to stdout so far, without reading them: cheap enough to poll.
    public var standardOutputBytes: Int {
        var status = stat()
        return stat(self.outputFile, &status) == 0 ? Int(status.st_size) : 0
    }

    public var standardError: String {
        FileManager.default.contents(atPath: self.errorFile).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    public func signal(_ signal: Int32) {
        kill(self.process.processIdentifier, signal)
    }

    /// Sends `signal` and waits for the child to exit: its exit status and how long the stop took.
    public func stop(
        with signal: Int32 = SIGTERM,
        timeout: Duration = .seconds(60)
    ) async -> (status: Int32, took: Duration) {
        let clock = ContinuousClock()
        let signalled = clock.now
        self.signal(signal)
        let status = await self.waitForExit(timeout: timeout)
        return (status, signalled.duration(to: clock.now))
    }

    /// The child's peak resident memory (VmHWM) as last read while ``waitForExit(timeout:)`` polled it.
    public var peakResidentBytes: Int { self.peakResident.withLock { $0 } }

    /// Waits for the child to exit (polling, so no thread is blocked) and returns its exit status.
    public func waitForExit(timeout: Duration = .seconds(120)) async -> Int32 {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while self.process.isRunning, clock.now < deadline {
            if let peak = Self.residentHighWater(pid: self.process.processIdentifier) {
                self.peakResident.withLock { $0 = max($0, peak) }
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        if self.process.isRunning {
            kill(self.process.processIdentifier, SIGKILL)
            // A status no exit has: the child was killed, yet its exit was not seen.
            guard self.process.waitForExit(upTo: .seconds(10)) else { return -1 }
        }
        return self.process.terminationStatus
    }
}
