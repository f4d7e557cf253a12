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
    /// Diagnostics holding, in order, each `(missing, name, location)`: a missing setting when `missing`,
    /// else an unknown one, as the settings reader records them.
    static func diagnostics(_ entries: [(missing: Bool, name: String, at: String)]) -> ConfigurationDiagnostics {
        let diagnostics = ConfigurationDiagnostics()
        for entry in entries {
            diagnostics.record(
                entry.missing
                    ? TrawlError(.settingMissing, "required setting \(entry.name) not found", location: entry.at)
                    : TrawlError(.settingUnknown, "unknown setting \(entry.name)", location: entry.at),
                note: entry.missing ? .missing(entry.name) : .unknown(entry.name)
            )
        }
        return diagnostics
    }

    @Test func anUnknownSettingThatAnotherSectionLacksSaysWhereItBelongs() {
        let errors = Self.diagnostics([
            (true, "console_url", "inputs.s1.credentials"),
            (false, "console_url", "inputs.s1.services.agents (line 9)"),
            (false, "colour", "inputs.s1.services.agents (line 10)"),
        ]).errors
        #expect(errors[0].fix == "console_url is written at inputs.s1.services.agents (line 9): move it here.")
        #expect(errors[1].fix == "console_url belongs at inputs.s1.credentials: move it there.")
        #expect(errors[2].fix == TrawlError.Code.settingUnknown.fix, "a setting no section lacks keeps its advice")
    }

    /// `aws_access_key_id: ${AWS_ACCESS_KEY_ID}` without the variable is one mistake: the empty value it
    /// leaves is not also reported as malformed; other settings' errors stay.
    @Test func aSettingWhoseVariableIsUnsetIsReportedOnlyForTheVariable() throws {
        let diagnostics = ConfigurationDiagnostics()
        let document = try #require(
            ConfigurationDocument.parse(
                "key: ${TRAWL_TEST_UNSET_KEY}\nother: ${TRAWL_TEST_SET}\n",
                origin: "test.yaml",
                environment: ["TRAWL_TEST_SET": "x"],
                diagnostics: diagnostics
            )
        )
        #expect(document.origin == "test.yaml")
        let unset = try #require(diagnostics.errors.first)
        #expect(diagnostics.errors.count == 1 && unset.code == .environmentVariableMissing)
        let location = try #require(unset.location)
        diagnostics.record(TrawlError(.settingWrongFormat, "key does not match expected format", location: location))
        diagnostics.record(TrawlError(.settingWrongFormat, "other does not match expected format", location: "other"))
        #expect(diagnostics.errors.map(\.code) == [.environmentVariableMissing, .settingWrongFormat])
        #expect(diagnostics.errors.last?.location == "other")
    }

    @Test func aSettingWrittenInTwoWrongPlacesIsNotSentToEither() {
        let errors = Self.diagnostics([(true, "region", "a"), (false, "region", "b"), (false, "region", "c")]).errors
        #expect(errors.count == 3 && errors.allSatisfy { $0.specificFix == nil })
    }
}
