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
    /// A token expiring within this many days is warned about.
    public static let warningDays = 30.0

    /// The token's expiry as the console states it; nil when it states none.
    ///
    /// - Throws: ApiError 440-447 (``TrawlError``) when the console refuses the question.
    public static func fetch(_ console: SentinelOneConsole, logger: Logger) async throws -> UTCTimestamp? {
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
        return details?.data?.expiresAt.flatMap(parseUTCDatetime)
    }

    /// `expires on 2027-05-01T00:00:00 UTC (in 157 day(s))`, or `expired on ...`.
    public static func describe(_ expiry: UTCTimestamp, now: UTCTimestamp = .now()) -> String {
        let date = String(expiry.logPrefix.dropLast(4)) + " UTC"
        let days = (expiry.secondsSinceEpoch - now.secondsSinceEpoch) / 86_400
        return days <= 0 ? "expired on \(date)" : "expires on \(date) (in \(Int(days)) day(s))"
    }

    /// Whether `expiry` is close enough (or past) to warn about.
    public static func isNear(_ expiry: UTCTimestamp, now: UTCTimestamp = .now()) -> Bool {
        (expiry.secondsSinceEpoch - now.secondsSinceEpoch) / 86_400 < Self.warningDays
    }
}

extension SentinelOneRequestGate {
    /// Asks the console about its token at most once a day for all services of the input: warns when it
    /// expires within ``SentinelOneTokenExpiry/warningDays`` and records
    /// `trawl_sentinelone_token_expiry_timestamp_seconds`. A console that will not say is not an error (the
    /// collection goes on); it is logged at debug level.
    public func checkTokenExpiry(_ console: SentinelOneConsole, input: String, logger: Logger) async {
        let due = self.tokenCheckedAt.withLock { checked -> Bool in
            if let checked, checked.duration(to: .now) < .seconds(86_400) { return false }
            checked = .now
            return true
        }
        guard due else { return }
        let expiry: UTCTimestamp?
        do {
            expiry = try await SentinelOneTokenExpiry.fetch(console, logger: logger)
        } catch {
            logger.debug("The console did not say when its API token expires: \(error)")
            return
        }
        guard let expiry else { return }
        Gauge(label: "trawl_sentinelone_token_expiry_timestamp_seconds", dimensions: [("input", input)])
            .record(expiry.secondsSinceEpoch)
        if SentinelOneTokenExpiry.isNear(expiry) {
            logger.warning(
                "The API token of input \(input) \(SentinelOneTokenExpiry.describe(expiry)); the console refuses it from then on: generate a new one (My User > Actions > API Token Operations > Regenerate API Token) and set api_token before then"
            )
        }
    }
}
