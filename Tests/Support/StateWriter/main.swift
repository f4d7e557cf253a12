// Test helper for the crash-safety test: saves an ever-increasing counter through the real state store as
// fast as it can until it is killed. Each state carries a checksum-like padding derived from its counter,
// so a torn write would be detected by the test that reads the file back.

import Logging
import TrawlCore

#if canImport(Glibc)
import Glibc
#endif

struct CounterState: Codable, Sendable {
    var counter: Int
    var padding: String
}

guard CommandLine.arguments.count == 2 else {
    print("usage: trawl-state-writer DIRECTORY")
    exit(64)
}
let store = try FileStateStore(directory: CommandLine.arguments[1])
let persistence = ServicePersistence<CounterState>(
    store: store,
    key: StateKey(collectorID: "crash", input: "1", service: "counter"),
    resetPersistenceAuth: "",
    logger: Logger(label: "state-writer") { _ in SwiftLogNoOpLogHandler() }
)
var counter = try await persistence.load()?.counter ?? 0
var ready = Array("ready \(counter)\n".utf8)
_ = ready.withUnsafeMutableBytes { writeAll(STDOUT_FILENO, UnsafeRawBufferPointer($0)) }
while true {
    counter += 1
    let digit = Character(String(counter % 10))
    try await persistence.save(CounterState(counter: counter, padding: String(repeating: digit, count: 64 * 1024)))
}
