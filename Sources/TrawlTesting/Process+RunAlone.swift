import Foundation
import Synchronization

/// Held while a child process is being started; see ``Foundation/Process/runAlone()``.
private let childLaunch = Mutex<Void>(())

extension Process {
    /// Starts the process while no other child of this test process is being started. Foundation learns
    /// that a child exited when the socket it hands that child closes, and the child's end of that socket
    /// is open in this process until `run()` returns: a child another thread started meanwhile inherited it
    /// and held it open, so the first child's exit went unseen for as long as the second lived. A CI run
    /// hung so: `waitUntilExit()` spun on a SIGKILLed peer whose socket a moto server started beside it
    /// still held. Every child the tests start goes through here.
    public func runAlone() throws {
        try childLaunch.withLock { _ in try self.run() }
    }

    /// Waits, polling, up to `timeout` for the process to be seen exited; whether it was. Unlike
    /// `waitUntilExit()`, a child whose exit is never seen does not hold the calling thread for good.
    @discardableResult
    public func waitForExit(upTo timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while self.isRunning, ContinuousClock.now < deadline { usleep(10_000) }
        return !self.isRunning
    }
}
