import Foundation
import TrawlCore

extension HTTPProxySettings {
    /// The egress proxy the environment names (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`), for the inputs and
    /// outputs that reach a service over HTTP; a malformed one is recorded (SetupError 6, listed once however
    /// many read it) and none is used.
    static func egress(_ diagnostics: ConfigurationDiagnostics) -> HTTPProxySettings {
        do {
            return try HTTPProxySettings(environment: ProcessInfo.processInfo.environment)
        } catch {
            diagnostics.record(error)
            return HTTPProxySettings()
        }
    }
}
