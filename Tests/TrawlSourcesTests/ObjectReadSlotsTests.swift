import Synchronization
import Testing

@testable import TrawlSources

@Suite struct ObjectReadSlotsTests {
    /// The readers that got a slot, in the order they got it.
    final class Order: Sendable {
        let readers = Mutex<[Int]>([])
    }

    /// A reader past the slots waits until one is given back, then takes it; the longest waiting goes first.
    @Test func aReaderPastTheSlotsWaitsForOneToBeGivenBackInTurn() async throws {
        let slots = ObjectReadSlots(1)
        await slots.take()
        let order = Order()
        await withTaskGroup(of: Void.self) { group in
            for reader in 1...2 {
                group.addTask {
                    await slots.take()
                    order.readers.withLock { $0.append(reader) }
                    slots.give()
                }
                // The first reader is waiting before the second asks.
                let deadline = ContinuousClock.now + .seconds(10)
                while slots.waitingReaders < reader, ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(1))
                }
                #expect(slots.waitingReaders == reader, "reader \(reader) waits for the slot")
            }
            #expect(order.readers.withLock { $0 }.isEmpty, "no reader got past the one slot taken")
            slots.give()
        }
        #expect(order.readers.withLock { $0 } == [1, 2])
    }
}
