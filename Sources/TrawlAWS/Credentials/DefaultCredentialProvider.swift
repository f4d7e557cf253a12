import Foundation
import TrawlCore

/// The standard places AWS tools look for keys when none are configured: the environment, then a profile
/// of the shared credentials file.
public enum DefaultCredentialProvider {
    /// Keys from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, else from the profile.
    public static func resolve(profile: String?, environment: [String: String]) throws -> StaticCredentialProvider {
        if profile == nil, let keyID = environment["AWS_ACCESS_KEY_ID"], !keyID.isEmpty,
            let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty
        {
            let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            return StaticCredentialProvider(
                AWSCredentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: token)
            )
        }
        let name = profile ?? environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        let path =
            environment["AWS_SHARED_CREDENTIALS_FILE"]
            ?? "\(environment["HOME"] ?? "~")/.aws/credentials"
        let location = "credentials file \(path), profile \(name)"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrawlError(
                .settingMissing,
                "no AWS credentials found: aws_access_key_id is not set, AWS_ACCESS_KEY_ID is not in the environment and \(path) cannot be read",
                location: location,
                fix:
                    "Set aws_access_key_id and aws_secret_access_key in the input's credentials, export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or create \(path)."
            )
        }
        let section = Self.profileSection(String(decoding: data, as: UTF8.self), name: name)
        guard let section, let keyID = section["aws_access_key_id"], let secret = section["aws_secret_access_key"]
        else {
            throw TrawlError(
                .settingMissing,
                section == nil
                    ? "no profile \(name) in \(path)"
                    : "profile \(name) in \(path) lacks aws_access_key_id or aws_secret_access_key",
                location: location,
                fix:
                    "Add [\(name)] with aws_access_key_id and aws_secret_access_key to \(path), or name another profile in aws_profile."
            )
        }
        return StaticCredentialProvider(
            AWSCredentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: section["aws_session_token"])
        )
    }

    /// The `key = value` pairs of `[name]` in an INI file; nil when there is no such section.
    static func profileSection(_ text: String, name: String) -> [String: String]? {
        var current: String?
        var found: [String: String]?
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                current = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                if current == name, found == nil { found = [:] }
                continue
            }
            guard current == name, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            found?[key] = value
        }
        return found
    }
}
