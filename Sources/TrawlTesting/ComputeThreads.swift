import NIOCore
import NIOPosix
import Testing

/// Threads of their own for CPU-bound tests (decoding every Parquet test file, decompressing at every
/// piece size), as a task executor those tests prefer.
///
/// Swift Testing starts every test at once on the concurrency pool, which has one thread per core. Tests
/// that compute for seconds without suspending held both threads of this two-core machine for the first
/// seconds of a run, and every other test, among them those that measure time, waited for a thread.
/// Here the operating system shares the cores between those tests and the rest instead.
public final class ComputeThreadsExecutor: TaskExecutor {
    /// Started at first use, for the life of the test process.
    public static let shared = ComputeThreadsExecutor(threads: max(2, System.coreCount))

    private let pool: NIOThreadPool

    private init(threads: Int) {
        self.pool = NIOThreadPool(numberOfThreads: threads)
        self.pool.start()
    }

    /// Runs `body` on one thread of its own, stopped when `body` returns or throws: every task that prefers
    /// it takes turns, for tests of how work interleaves, and no test leaves a thread behind.
    public static func withOneThread<Result: Sendable>(
        _ body: () async throws -> Result
    ) async throws -> Result {
        let executor = ComputeThreadsExecutor(threads: 1)
        let result: Result
        do {
            result = try await withTaskExecutorPreference(executor, operation: body)
        } catch {
            try? await executor.pool.shutdownGracefully()
            throw error
        }
        try await executor.pool.shutdownGracefully()
        return result
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.pool.submit { _ in job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// Runs each test of a suite (or one test) on ``ComputeThreadsExecutor``: `@Suite(.onComputeThreads)`.
public struct ComputeThreadsTrait: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        try await withTaskExecutorPreference(ComputeThreadsExecutor.shared) { try await function() }
    }
}

extension Trait where Self == ComputeThreadsTrait {
    /// The test or suite computes for long stretches without suspending: it runs on threads of its own.
    public static var onComputeThreads: Self { Self() }
}
