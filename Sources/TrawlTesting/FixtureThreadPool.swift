import NIOCore
import NIOPosix

/// The threads test fixtures block on while a peer's script runs (the AWS fixture, the Parquet oracle, a
/// compressor, `initdb`, rsyslog's config check).
///
/// Not NIO's shared pool: Trawl's own file work (the file output, spools, the state store) runs there, on
/// as many threads as cores. Two fixtures waiting seconds for a Python script took both threads of this
/// two-core machine, and every file write of every other test running meanwhile waited behind them. As
/// many threads as cores here too: the scripts are CPU-bound, and more of them at once slowed the tests
/// that measure time (a sixteen-thread pool made a 10 s timeout bound fail at 19 s).
public enum FixtureThreadPool {
    /// Started at first use, for the life of the test process (as NIO's singletons are).
    public static let shared: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: max(2, System.coreCount))
        pool.start()
        return pool
    }()
}
