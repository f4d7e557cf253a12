/// Runs `body`, then `close`, also when `body` throws (then `body`'s error is the one thrown): how a source
/// keeps a connection pool open exactly as long as its pull cycles run.
public func closing(
    _ close: () async throws -> Void,
    after body: () async throws -> Void
) async throws {
    do {
        try await body()
    } catch {
        try? await close()
        throw error
    }
    try await close()
}
