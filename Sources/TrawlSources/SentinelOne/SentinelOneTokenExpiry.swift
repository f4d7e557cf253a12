import Foundation
import Logging
import Metrics
import NIOCore
import Synchronization
import TrawlCore

/// When a console's API token expires. SentinelOne tokens expire (six months after they are made, by
/// default) and the console then answers 401 to everything: collection stops until someone notices. The
/// console says when (`POST /users/api-token-details`), so Trawl warns ahead and exports the date.
public enum SentinelOneTokenExpiry {
    /// The token's expiry as the console states it; nil when it states none.
    ///
    /// - Throws: ApiError 440-448 (``TrawlError``) when the console refuses the question.
    public static func fetch(_ console: SentinelOneConsole, logger: Logger) async throws -> CredentialExpiry? {
        struct Question: Encodable {
            struct Token: Encodable { var apiToken: String }
            var data: Token
        }
        struct Answer: Decodable {
            struct Details: Decodable { var expiresAt: String? }
            var data: Details?
        }
        let question = try JSONEncoder().encode(Question(data: .init(apiToken: console.configuration.token)))
        let answer = try await console.post("/users/api-token-details", json: Array(question), logger: logger)
        let details = try? JSONDecoder().decode(Answer.self, from: Data(answer.readableBytesView))
        return details?.data?.expiresAt.flatMap(parseUTCDatetime).map(CredentialExpiry.init)
    }
}

extension SentinelOneRequestGate {
    /// Asks the console about its token at most once a day for all services of the input: warns when it
    /// expires within ``CredentialExpiry/warningDays`` and records
    /// `trawl_sentinelone_token_expiry_timestamp_seconds`. A console that will not say is not an error (the
    /// collection goes on); it is logged at debug level.
    public func checkTokenExpiry(_ console: SentinelOneConsole, input: String, logger: Logger) async {
        let due = self.tokenCheckedAt.withLock { checked -> Bool in
            if let checked, checked.duration(to: .now) < .seconds(86_400) { return false }
            checked = .now
            return true
        }
        guard due else { return }
        let expiry: CredentialExpiry?
        do {
            expiry = try await SentinelOneTokenExpiry.fetch(console, logger: logger)
        } catch {
            logger.debug("The console did not say when its API token expires: \(error)")
            return
        }
        guard let expiry else { return }
        Gauge(label: "trawl_sentinelone_token_expiry_timestamp_seconds", dimensions: [("input", input)])
            .record(expiry.date.secondsSinceEpoch)
        if expiry.isNear() {
            logger.warning(
                "The API token of input \(input) \(expiry.description()); the console refuses it from then on: generate a new one (My User > Actions > API Token Operations > Regenerate API Token) and set api_token before then"
            )
        }
    }
}
