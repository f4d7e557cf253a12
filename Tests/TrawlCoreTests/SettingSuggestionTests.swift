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

/// A setting written in one section that another section lacks is one mistake, told as one: each error says
/// where the other is.
@Suite struct MisplacedSettingTests {
    @Test func anUnknownSettingThatAnotherSectionLacksSaysWhereItBelongs() {
        let diagnostics = ConfigurationDiagnostics()
        diagnostics.record(
            TrawlError(.settingMissing, "required setting console_url not found", location: "inputs.s1.credentials"),
            note: .missing("console_url")
        )
        diagnostics.record(
            TrawlError(.settingUnknown, "unknown setting console_url", location: "inputs.s1.services.agents (line 9)"),
            note: .unknown("console_url")
        )
        diagnostics.record(
            TrawlError(.settingUnknown, "unknown setting colour", location: "inputs.s1.services.agents (line 10)"),
            note: .unknown("colour")
        )
        let errors = diagnostics.errors
        #expect(errors[0].fix == "console_url is written at inputs.s1.services.agents (line 9): move it here.")
        #expect(errors[1].fix == "console_url belongs at inputs.s1.credentials: move it there.")
        #expect(errors[2].fix == TrawlError.Code.settingUnknown.fix, "a setting no section lacks keeps its advice")
    }

    @Test func aSettingWrittenInTwoWrongPlacesIsNotSentToEither() {
        let diagnostics = ConfigurationDiagnostics()
        diagnostics.record(
            TrawlError(.settingMissing, "required setting region not found", location: "a"),
            note: .missing("region")
        )
        diagnostics.record(
            TrawlError(.settingUnknown, "unknown setting region", location: "b"),
            note: .unknown("region")
        )
        diagnostics.record(
            TrawlError(.settingUnknown, "unknown setting region", location: "c"),
            note: .unknown("region")
        )
        #expect(diagnostics.errors.allSatisfy { $0.specificFix == nil })
    }
}
