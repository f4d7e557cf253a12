import Testing

@testable import TrawlCore

/// An unknown setting's fix names the setting meant when it can tell: a typo, or a name written short or
/// without its prefix; it names none when several could be meant.
@Suite struct SettingSuggestionTests {
    static let accepted = [
        "aws_access_key_id", "aws_secret_access_key", "chain_filename", "cert_filename", "key_filename", "tag",
        "tag_field", "tag_mapping", "tag_default", "file_suffix",
    ]

    @Test(arguments: [
        ("file_sufix", "file_suffix"), ("tag_map", "tag_mapping"), ("chain", "chain_filename"),
        ("secret_access_key", "aws_secret_access_key"),
    ])
    func aTypoOrAShortenedNameSuggestsTheSettingMeant(written: String, meant: String) {
        #expect(closest(to: written, among: Self.accepted) == meant)
    }

    @Test(arguments: ["filename", "access_key", "region", "xyz"])
    func aNameSeveralOrNoSettingsCouldMeanSuggestsNone(written: String) {
        #expect(closest(to: written, among: Self.accepted) == nil)
    }

    @Test func anUnknownServiceOrTypeSuggestsTheOneMeantBeforeListingThemAll() {
        let services = ["agents", "threats", "rogues"]
        #expect(oneOf(services, closestTo: "threat") == "Did you mean threats? Use one of: agents, threats, rogues.")
        #expect(oneOf(services, closestTo: "kafka") == "Use one of: agents, threats, rogues.")
    }
}
