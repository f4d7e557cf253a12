/// Where a service's state lives: collector id / input / service, as the Devo collectors build their
/// persistence address.
public struct StateKey: Sendable, Hashable, CustomStringConvertible {
    public var collectorID: String
    public var input: String
    public var service: String

    public init(collectorID: String, input: String, service: String) {
        self.collectorID = collectorID
        self.input = input
        self.service = service
    }

    /// The file path below the persistence directory.
    public var relativePath: String { "\(self.collectorID)/\(self.input)/\(self.service).json" }

    public var description: String { "\(self.collectorID)/\(self.input)/\(self.service)" }
}
