import Testing
import TrawlCore

@Suite struct AcknowledgementStateMachineTests {
    @Test func deliversOnlyAfterSealAndEveryRelease() {
        var machine = AcknowledgementStateMachine()
        machine.retain(2)
        #expect(machine.release() == .none)
        machine.retain(1)
        #expect(machine.release() == .none)
        #expect(machine.release() == .none, "not sealed yet: the source may still add batches")
        #expect(machine.seal() == .resume(.delivered))
        #expect(machine.outcome == .delivered)
    }

    @Test func sealWithNothingPendingDeliversAtOnce() {
        var machine = AcknowledgementStateMachine()
        #expect(machine.seal() == .resume(.delivered))
    }

    @Test func oneRejectionRejectsTheWholeUnitAndLaterReleasesAreIgnored() {
        var machine = AcknowledgementStateMachine()
        machine.retain(2)
        #expect(machine.reject(code: 500, message: "disk full") == .resume(.rejected(code: 500, message: "disk full")))
        #expect(machine.release() == .none)
        #expect(machine.seal() == .none)
        #expect(machine.outcome == .rejected(code: 500, message: "disk full"))
    }
}

@Suite struct AcknowledgementTests {
    @Test func waiterResumesWhenLastSinkReleases() async throws {
        let acknowledgement = Acknowledgement(unit: "object-1")
        acknowledgement.retain(2)
        acknowledgement.seal()
        async let waited: Void = acknowledgement.delivered()
        acknowledgement.release()
        #expect(acknowledgement.outcome == nil)
        acknowledgement.release()
        try await waited
        #expect(acknowledgement.outcome == .delivered)
    }

    @Test func waiterThrowsWhenASinkRejects() async {
        let acknowledgement = Acknowledgement(unit: "object-2")
        acknowledgement.retain(1)
        acknowledgement.seal()
        acknowledgement.reject(TrawlError(.sinkWriteFailed, "refused"))
        await #expect(throws: AcknowledgementRejected.self) { try await acknowledgement.delivered() }
    }

    @Test func cancelledWaiterThrowsCancellationAndDoesNotCommit() async {
        let acknowledgement = Acknowledgement(unit: "object-3")
        acknowledgement.retain(1)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await #expect(throws: CancellationError.self) { try await acknowledgement.delivered() }
            }
            group.cancelAll()
        }
        #expect(acknowledgement.outcome == nil)
    }
}
