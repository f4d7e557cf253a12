import Testing
import TrawlCore
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

    @Test func aPeerIsSeenListeningAmongHundredsOfOtherListeningSockets() async throws {
        // The kernel's socket table then runs far past what one read of it returns (about 27 sockets): a
        // CI run's moto was never seen on the port it printed while the other tests' peers listened.
        let crowd = """
            import socket, time
            sockets = []
            for _ in range(400):
                s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1); sockets.append(s)
            print(sockets[-1].getsockname()[1], flush=True)
            time.sleep(120)
            """
        let listeners = try await PeerProcess([PeerProcess.python, "-c", crowd], port: 0)
        defer { listeners.stop() }
        let peer = try await PeerProcess(
            [
                PeerProcess.python, "-c",
                "import socket, time\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n"
                    + "print(s.getsockname()[1], flush=True)\ntime.sleep(120)",
            ],
            port: 0
        )
        peer.stop()
        #expect(listeners.port != peer.port)
    }

    @Test func freePortsAreHandedOutOnceAndBelowThePortsTheKernelHandsOutItself() throws {
        // Every other peer binds port 0 and every client connects from the ephemeral range: a port from it,
        // free when handed out, could be taken before the peer told to use it bound it.
        let range = try #require(
            readWholeFile("/proc/sys/net/ipv4/ip_local_port_range").map { String(decoding: $0, as: UTF8.self) }
        )
        let ephemeralStart = try #require(range.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) })
        let ports = try (0..<50).map { _ in try PeerProcess.freePort() }
        #expect(Set(ports).count == ports.count)
        #expect(ports.allSatisfy { $0 >= 1_024 && $0 < ephemeralStart }, "\(ports) (ephemeral from \(ephemeralStart))")
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
