import Logging
import Metrics
import MetricsTestKit
import Testing
import TrawlCore
import TrawlTesting

@Suite struct MemoryReporterTests {
    @Test func memoryReportNamesRSSAndVMS() {
        let line = MemoryReporter<ContinuousClock>.report().line
        #expect(line.hasPrefix("[GC] global: "))
        #expect(line.contains("process: RSS("))
        #expect(line.contains("VMS("))
        #expect(MemorySample.read().residentBytes > 0)
    }

    @Test func aSampleTakenWithoutTheHeapLeavesItsFiguresOut() {
        let sample = MemorySample.read(includingHeap: false)
        #expect(sample.heap == nil)
        #expect(sample.residentBytes > 0)
    }

    #if os(Linux)
    /// A gibibyte allocated and never touched: malloc counts it in use although none of it is resident, so
    /// the other tests running meanwhile (allocating far less) cannot hide it.
    @Test func heapInUseGrowsByWhatIsAllocatedAndFallsWhenItIsFreed() throws {
        let size = 1 << 30
        let before = try #require(MemorySample.read().heap)
        let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        let holding = try #require(MemorySample.read().heap)
        block.deallocate()
        let after = try #require(MemorySample.read().heap)
        #expect(holding.inUseBytes - before.inUseBytes > size / 2)
        #expect(holding.heldBytes >= holding.inUseBytes)
        #expect(holding.inUseBytes - after.inUseBytes > size / 2)
    }

    @Test func eachReportLogsTheCollectorsLineWithTheHeapAsMetadataAndSetsTheGauges() async throws {
        let metrics = TestMetrics()
        let recording = RecordingLogger()
        let clock = ManualClock()
        let reporter = withMetricsFactory(metrics) {
            MemoryReporter(period: .seconds(60), clock: clock, logger: recording.logger)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await reporter.run() }
            #expect(await eventually { clock.sleepers == 1 })
            #expect(recording.messages.isEmpty, "nothing before the first period ends")
            clock.advance(by: .seconds(60))
            #expect(await eventually { recording.messages.count == 1 })
            group.cancelAll()
            try await group.next()
        }
        #expect(recording.messages.first?.hasPrefix("[GC] global: ") == true)
        let line = try #require(recording.lines.first)
        #expect(line.contains(#/memory\.heap\.in_use": [0-9]+\.[0-9]{2}MiB/#), "\(line)")
        #expect(line.contains("memory.heap.held"), "\(line)")
        let heapGauge = try metrics.expectGauge("trawl_memory_heap_in_use_bytes")
        #expect((heapGauge.lastValue ?? 0) > 0)
        #expect((try metrics.expectGauge("trawl_memory_heap_held_bytes").lastValue ?? 0) >= heapGauge.lastValue ?? 0)
        #expect((try metrics.expectGauge("trawl_memory_resident_bytes").lastValue ?? 0) > 0)
    }
    #endif
}
