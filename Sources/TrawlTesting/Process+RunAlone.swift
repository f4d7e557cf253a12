import Foundation
import Synchronization

/// Held while a child process is being started; see ``Foundation/Process/runAlone()``.
private let childLaunch = Mutex<Void>(())

/// Runs `close` (which closes a file holding a lock, such as a spool's) while no child of this test process
/// is being started. A child being started holds a copy of every descriptor from its fork until its exec
/// (`O_CLOEXEC` closes them only then), so a file closed meanwhile stays locked until the child execs, and
/// opening it again at once fails as "in use" (a spool test failed so beside `ProcessRunAloneTests`).
/// Children start in ``Foundation/Process/runAlone()``, which returns once the child has exec'd.
public func closeWhileNoChildStarts(_ close: () -> Void) {
    childLaunch.withLock { _ in close() }
}

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
