/// Where requests for one AWS service go: the regional default, or a configured URL (an emulator, MinIO,
/// a VPC endpoint, another partition).
public struct AWSEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int?
    /// A path prefix the endpoint is mounted under (empty for AWS itself).
    public var basePath: String

    public init(scheme: String, host: String, port: Int? = nil, basePath: String = "") {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.basePath = basePath
    }

    /// Parses `https://host[:port][/path]`; nil for anything else.
    public init?(url: String) {
        let parts = url.split(separator: "://", maxSplits: 1)
        guard parts.count == 2, parts[0] == "https" || parts[0] == "http" else { return nil }
        let rest = parts[1]
        let authority = rest.prefix { $0 != "/" }
        var path = String(rest.dropFirst(authority.count))
        while path.hasSuffix("/") { path.removeLast() }
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        var host = String(authority)
        var port: Int?
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            guard let number = Int(authority[authority.index(after: colon)...]), (1...65_535).contains(number)
            else { return nil }
            port = number
            host = String(authority[..<colon])
        }
        guard !host.isEmpty else { return nil }
        self.init(scheme: String(parts[0]), host: host, port: port, basePath: path)
    }

    /// The public endpoint of `service` in `region`, in the right partition (China's end in `.com.cn`).
    public static func standard(service: String, region: String) -> AWSEndpoint {
        AWSEndpoint(scheme: "https", host: "\(service).\(region).\(Self.dnsSuffix(region: region))")
    }

    /// `amazonaws.com`, or `amazonaws.com.cn` for the China regions.
    public static func dnsSuffix(region: String) -> String {
        region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
    }

    /// `host[:port]` as the `Host` header carries it (the port only when not the scheme's default).
    public var hostHeader: String {
        guard let port, !(self.scheme == "https" && port == 443), !(self.scheme == "http" && port == 80) else {
            return self.host
        }
        return "\(self.host):\(port)"
    }

    /// The same endpoint with another host name (virtual-hosted S3 buckets).
    public func withHost(_ host: String) -> AWSEndpoint {
        var copy = self
        copy.host = host
        return copy
    }

    public var description: String { "\(self.scheme)://\(self.hostHeader)\(self.basePath)" }
}
