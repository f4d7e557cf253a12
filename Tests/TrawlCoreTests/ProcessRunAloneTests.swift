import Dispatch
import Foundation
import NIOPosix
import Synchronization
import Testing
import TrawlTesting

#if canImport(Glibc)
import Glibc
#endif

/// Children started at once from several threads. Foundation sees a child exit when the socket it hands that
/// child closes; a child started while another's socket was still open here inherited it and hid that one's
/// exit for as long as it lived (a CI run hung in `waitUntilExit()` on a killed peer so). Started with
/// `run()`, a program doing just this missed 4 of 4,400 such exits; with ``Foundation/Process/runAlone()``,
/// none of 4,000. The race is that rare, so this test can pass without the fix; it fails with it only if
/// the fix stops holding.
@Suite struct ProcessRunAloneTests {
    @Test func aChildKilledIsSeenExitedThoughOthersStartedBesideItStillRun() async throws {
        let pairs = 100
        let started = try await FixtureThreadPool.shared.runIfActive {
            let collected = Mutex<[(killed: Process, kept: Process)]>([])
            let failures = Mutex<[any Error]>([])
            DispatchQueue.concurrentPerform(iterations: pairs) { _ in
                let killed = Self.sleeper()
                let kept = Self.sleeper()
                do {
                    try killed.runAlone()
                    try kept.runAlone()
                    collected.withLock { $0.append((killed, kept)) }
                } catch {
                    failures.withLock { $0.append(error) }
                }
            }
            if let failure = failures.withLock({ $0.first }) { throw failure }
            return collected.withLock { $0 }
        }
        defer {
            for pair in started {
                kill(pair.kept.processIdentifier, SIGKILL)
                pair.kept.waitForExit(upTo: .seconds(10))
            }
        }
        #expect(started.count == pairs)
        for pair in started { kill(pair.killed.processIdentifier, SIGKILL) }
        let unseen = started.filter { !$0.killed.waitForExit(upTo: .seconds(5)) }.count
        #expect(unseen == 0, "\(unseen) of \(pairs) killed children were not seen exited while the others ran")
        #expect(started.allSatisfy { $0.kept.isRunning })
    }

    static func sleeper() -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sleep")
        process.arguments = ["60"]
        process.standardInput = FileHandle.nullDevice
        return process
    }
}
