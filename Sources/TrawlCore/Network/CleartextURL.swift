import Foundation

/// Whether a secret sent to `url` crosses the network unencrypted: `http://` to a host other than this
/// machine's loopback (where emulators and simulators listen).
public func sendsInCleartext(_ url: String) -> Bool {
    guard let parsed = URL(string: url), parsed.scheme?.lowercased() == "http" else { return false }
    let host = (parsed.host ?? "").lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
    return !(host == "localhost" || host == "::1" || host.hasPrefix("127."))
}
