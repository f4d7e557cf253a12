import AsyncHTTPClient
import Foundation

/// The outbound HTTP proxy the environment names, read as curl and the AWS SDKs read it: `HTTPS_PROXY` for
/// `https` destinations, `HTTP_PROXY` for `http` ones (lower-case names first), and `NO_PROXY`, the hosts
/// reached directly. Networks that let security tooling out only through a proxy need this; the Python
/// collectors Trawl replaces honoured these variables through their HTTP libraries.
public struct HTTPProxySettings: Sendable, Equatable {
    /// One proxy: `http://[user:password@]host:port`. The password never appears in descriptions.
    public struct Server: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public var username: String?
        public var password: String?

        public init(host: String, port: Int, username: String? = nil, password: String? = nil) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
        }

        /// `proxy.example.com:3128`, with `user@` when it authenticates; never the password.
        public var description: String {
            (self.username.map { "\($0)@" } ?? "") + "\(self.host):\(self.port)"
        }
    }

    public var https: Server?
    public var http: Server?
    /// Host names (a leading `.` or none: the domain and its subdomains), IP addresses, or `*` for every host.
    public var noProxy: [String]

    public init(https: Server? = nil, http: Server? = nil, noProxy: [String] = []) {
        self.https = https
        self.http = http
        self.noProxy = noProxy
    }

    /// The proxies of `environment`; none when it names none.
    ///
    /// - Throws: SetupError 6 naming the variable whose value is no `http://host:port` URL.
    public init(environment: [String: String]) throws(TrawlError) {
        func value(_ name: String) -> (String, String)? {
            for variable in [name.lowercased(), name] {
                if let value = environment[variable], !value.isEmpty { return (variable, value) }
            }
            return nil
        }
        self.https = try value("HTTPS_PROXY").map { variable, text throws(TrawlError) in
            try Self.server(text, variable: variable)
        }
        self.http = try value("HTTP_PROXY").map { variable, text throws(TrawlError) in
            try Self.server(text, variable: variable)
        }
        self.noProxy =
            value("NO_PROXY")?.1.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            .filter { !$0.isEmpty } ?? []
    }

    /// The proxy a request to `host` over `scheme` goes through; nil to connect directly.
    public func server(scheme: String, host: String) -> Server? {
        guard let server = scheme.lowercased() == "https" ? self.https : self.http else { return nil }
        let host = host.lowercased()
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        for entry in self.noProxy {
            if entry == "*" { return nil }
            var domain = Substring(entry)
            if domain.hasPrefix(".") { domain = domain.dropFirst() }
            // `host:port`: one colon (an IPv6 address has several), the port ignored.
            if let colon = domain.firstIndex(of: ":"), colon == domain.lastIndex(of: ":"),
                domain[domain.index(after: colon)...].allSatisfy(\.isNumber)
            {
                domain = domain[..<colon]
            }
            if bare == domain || bare.hasSuffix("." + domain) { return nil }
        }
        return server
    }

    /// `http://[user:password@]host[:port][/]`; the scheme may be left out, as curl allows.
    static func server(_ text: String, variable: String) throws(TrawlError) -> Server {
        var rest = Substring(text)
        if let schemeEnd = rest.range(of: "://") {
            let scheme = rest[..<schemeEnd.lowerBound].lowercased()
            guard scheme == "http" else {
                throw Self.unusable(
                    text,
                    variable: variable,
                    reason: "only http:// proxies are supported, not \(scheme)://"
                )
            }
            rest = rest[schemeEnd.upperBound...]
        }
        if let slash = rest.firstIndex(of: "/") {
            guard rest[slash...].allSatisfy({ $0 == "/" }) else {
                throw Self.unusable(text, variable: variable, reason: "a proxy URL has no path")
            }
            rest = rest[..<slash]
        }
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let parts = userinfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard let user = String(parts[0]).removingPercentEncoding,
                let secret = parts.count > 1 ? String(parts[1]).removingPercentEncoding : ""
            else {
                throw Self.unusable(text, variable: variable, reason: "a %-escape of the user or password is malformed")
            }
            username = user
            password = parts.count > 1 ? secret : nil
        }
        var host = rest
        var port = 80
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("]") {
            host = rest[..<colon]
            guard let parsed = Int(rest[rest.index(after: colon)...]), (1...65_535).contains(parsed) else {
                throw Self.unusable(text, variable: variable, reason: "the port is not a number from 1 to 65535")
            }
            port = parsed
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "/" }) else {
            throw Self.unusable(text, variable: variable, reason: "no host")
        }
        return Server(host: String(host), port: port, username: username, password: password)
    }

    private static func unusable(_ text: String, variable: String, reason: String) -> TrawlError {
        // The value may hold a password: only what precedes the userinfo is shown.
        let shown = text.contains("@") ? "(a URL with credentials)" : text
        return TrawlError(
            .settingWrongFormat,
            "\(variable) is \(shown): \(reason)",
            location: "environment \(variable)",
            fix:
                "Set \(variable) to http://host:port (with user:password@ before the host if the proxy asks for them), or unset it."
        )
    }
}

extension HTTPProxySettings {
    /// The proxy for a client that talks to one base URL (an API console, a Devo endpoint); nil to connect
    /// directly.
    public func server(forURL url: String) -> Server? {
        guard let parsed = URL(string: url), let scheme = parsed.scheme, let host = parsed.host else { return nil }
        return self.server(scheme: scheme, host: host)
    }

    /// Whether `error`, raised by AsyncHTTPClient, says the proxy refused to open the tunnel (it wants other
    /// credentials or does not allow `CONNECT` to that host and port).
    public static func isRefusedTunnel(_ error: any Error) -> Bool {
        guard let error = error as? HTTPClientError else { return false }
        return error == .proxyAuthenticationRequired || error == .invalidProxyResponse
    }

    /// What to do when the proxy refused the tunnel.
    public static let refusedTunnelFix =
        "Check the user and password in the proxy URL (percent-encode @ and : in them), that the proxy allows CONNECT to this host and port, or name the host in NO_PROXY."
}

extension HTTPProxySettings.Server {
    /// The proxy as AsyncHTTPClient takes it: every request tunnelled with `CONNECT` (TLS runs end to end,
    /// inside the tunnel), with basic authentication when a user is given.
    var clientProxy: HTTPClient.Configuration.Proxy {
        .server(
            host: self.host,
            port: self.port,
            authorization: self.username.map { .basic(username: $0, password: self.password ?? "") }
        )
    }
}

extension HTTPClient.Configuration {
    /// Sends every request through `proxy`, or directly when it is nil.
    ///
    /// Through a proxy, a connection that cannot be opened fails its requests at once, where AsyncHTTPClient
    /// would otherwise keep opening new ones until its connect timeout: a proxy that refuses the tunnel
    /// (another password wanted, a port it does not allow) answers the same every time, so the user waited
    /// 10 s per attempt (50 s for an AWS request) for an error known at the first answer. The callers' own
    /// retries, with backoff and a log line, take over instead.
    public mutating func tunnel(through proxy: HTTPProxySettings.Server?) {
        self.proxy = proxy?.clientProxy
        if proxy != nil { self.connectionPool.retryConnectionEstablishment = false }
    }
}
