import Testing
import TrawlTesting

/// The test peers are ready only when they themselves listen: a port handed out free may be taken by another
/// test's peer while the peer starts, and a test would then talk to the wrong server.
@Suite struct PeerProcessTests {
    @Test func aPeerThatCouldNotBindItsPortIsNotTakenForTheProcessListeningThere() async throws {
        let holder = try await PeerProcess.silentListener()
        defer { holder.stop() }
        let binder = """
            import socket, sys, time
            s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(1)
            time.sleep(60)
            """
        let failure = await #expect(throws: PeerFailed.self) {
            let peer = try await PeerProcess([PeerProcess.python, "-c", binder, "\(holder.port)"], port: holder.port)
            peer.stop()
        }
        #expect(failure?.peerExited == true, "\(failure?.description ?? "")")
        #expect(failure?.description.contains("Address already in use") == true, "\(failure?.description ?? "")")
    }

    @Test func aPeerOnAFreePortIsStartedOnAnotherWhenItExitedAndOnlyThen() async throws {
        var ports: [Int] = []
        let port = try await PeerProcess.onFreePort { port in
            ports.append(port)
            guard ports.count > 1 else { throw PeerFailed(description: "port taken", peerExited: true) }
            return port
        }
        #expect(ports.count == 2)
        #expect(port == ports[1] && ports[0] != ports[1])

        var attempts = 0
        await #expect(throws: PeerFailed.self) {
            _ = try await PeerProcess.onFreePort { _ -> Int in
                attempts += 1
                throw PeerFailed(description: "did not start in time")
            }
        }
        #expect(attempts == 1)
    }
}
