import CTrawlSystem
import Logging
import Metrics
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Logs memory use every `period` in the Devo collectors' words, after returning freed heap to the system:
/// `[GC] global: 20.4% -> 20.4%, process: RSS(34.50MiB -> 34.08MiB), VMS(410.52MiB -> 410.02MiB)`, with
/// malloc's own figures as metadata (`memory.heap.in_use`, `memory.heap.held`) and as gauges.
///
/// The RSS alone cannot tell a leak from memory malloc keeps for reuse, nor from the executable's pages: the
/// heap in use is what a leak makes grow.
public struct MemoryReporter<C: Clock>: Service where C.Duration == Duration {
    public let period: Duration
    public let clock: C
    public let logger: Logger
    private let gauges: MemoryGauges

    public init(period: Duration, clock: C, logger: Logger) {
        self.period = period
        self.clock = clock
        self.logger = logger
        self.gauges = MemoryGauges()
    }

    public func run() async throws {
        while true {
            do {
                try await cancelWhenGracefulShutdown { try await self.clock.sleep(for: self.period) }
            } catch {
                return
            }
            let report = Self.report()
            self.gauges.record(report.after)
            self.logger.info("\(report.line)", metadata: report.metadata)
        }
    }

    /// What one report measured: the line to log, its metadata, and the figures after freeing.
    public struct Report: Sendable {
        public var line: String
        public var metadata: Logger.Metadata
        public var after: MemorySample
    }

    /// Measures, frees, measures again.
    public static func report() -> Report {
        let before = MemorySample.read(includingHeap: false)
        returnFreedHeapToSystem()
        let after = MemorySample.read()
        let line =
            "[GC] global: \(formatFixed(before.globalPercent, decimals: 1))% -> "
            + "\(formatFixed(after.globalPercent, decimals: 1))%, process: "
            + "RSS(\(mib(before.residentBytes)) -> \(mib(after.residentBytes))), "
            + "VMS(\(mib(before.virtualBytes)) -> \(mib(after.virtualBytes)))"
        var metadata: Logger.Metadata = [:]
        if let heap = after.heap {
            metadata["memory.heap.in_use"] = "\(mib(heap.inUseBytes))"
            metadata["memory.heap.held"] = "\(mib(heap.heldBytes))"
        }
        return Report(line: line, metadata: metadata, after: after)
    }

    private static func mib(_ bytes: Int) -> String {
        "\(formatFixed(Double(bytes) / 1_048_576, decimals: 2))MiB"
    }
}

/// The gauges a memory report sets, so a scraper can alert on the heap in use growing.
private struct MemoryGauges: Sendable {
    let resident = Gauge(label: "trawl_memory_resident_bytes")
    let heapInUse = Gauge(label: "trawl_memory_heap_in_use_bytes")
    let heapHeld = Gauge(label: "trawl_memory_heap_held_bytes")

    func record(_ sample: MemorySample) {
        self.resident.record(sample.residentBytes)
        if let heap = sample.heap {
            self.heapInUse.record(heap.inUseBytes)
            self.heapHeld.record(heap.heldBytes)
        }
    }
}

/// The process's and the machine's memory, read from /proc (zeros where /proc is absent).
public struct MemorySample: Sendable {
    public var residentBytes = 0
    public var virtualBytes = 0
    /// Share of the machine's memory in use, 0-100.
    public var globalPercent = 0.0
    /// malloc's figures, where malloc is glibc's (2.33 or later).
    public var heap: HeapUsage?

    /// What malloc holds, summed over its arenas.
    public struct HeapUsage: Sendable, Equatable {
        /// Bytes of blocks allocated and not yet freed.
        public var inUseBytes: Int
        /// Bytes malloc has from the system: those in use, and freed ones it keeps for reuse.
        public var heldBytes: Int
    }

    /// `includingHeap: false` leaves `heap` nil: malloc's figures take its arenas' locks and walk their free
    /// lists, worth it only where they are reported.
    public static func read(includingHeap: Bool = true) -> MemorySample {
        var sample = MemorySample()
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        if let statm = readWholeFile("/proc/self/statm").map({ String(decoding: $0, as: UTF8.self) }) {
            let fields = statm.split(whereSeparator: { $0 == " " || $0 == "\n" })
            if fields.count >= 2, let pages = Int(fields[0]), let resident = Int(fields[1]) {
                sample.virtualBytes = pages * page
                sample.residentBytes = resident * page
            }
        }
        if let meminfo = readWholeFile("/proc/meminfo").map({ String(decoding: $0, as: UTF8.self) }) {
            var total = 0
            var available = 0
            for line in meminfo.split(separator: "\n") {
                let parts = line.split(separator: " ", omittingEmptySubsequences: true)
                guard parts.count >= 2, let value = Int(parts[1]) else { continue }
                if parts[0] == "MemTotal:" { total = value }
                if parts[0] == "MemAvailable:" { available = value }
            }
            if total > 0 { sample.globalPercent = Double(total - available) * 100 / Double(total) }
        }
        var inUse: UInt64 = 0
        var held: UInt64 = 0
        if includingHeap, trawl_heap_usage(&inUse, &held) == 1 {
            sample.heap = HeapUsage(inUseBytes: Int(clamping: inUse), heldBytes: Int(clamping: held))
        }
        return sample
    }
}

/// glibc's `malloc_trim(0)`, looked up at run time because the Glibc module does not export it; a no-op on
/// other C libraries.
private func returnFreedHeapToSystem() {
    #if canImport(Glibc)
    typealias MallocTrim = @convention(c) (Int) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
    _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
    #endif
}
