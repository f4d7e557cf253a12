import TrawlCore
import TrawlFormats

/// `obfuscate` and `obfuscation_key` of a service whose records may be obfuscated before delivery (the
/// seeds' "source events obfuscation"): read the same way for every input that offers it, so a rule means
/// the same thing whichever collector applies it.
struct ObfuscationSettings {
    var rules: [RecordObfuscator.Rule]
    /// The secret of `hash` rules; from the environment (`${TRAWL_OBFUSCATION_KEY}`), never logged.
    var key: String?

    init(rules: [RecordObfuscator.Rule], key: String?) {
        self.rules = rules
        self.key = key
    }

    /// Reads `rulesKey` and `secretKey` of `settings`, recording each mistake: a malformed rule, a secret
    /// under 16 characters, hash rules without a secret.
    init<Key>(_ settings: SettingsReader<Key>, rules rulesKey: Key, key secretKey: Key) {
        self.rules = (settings.value(rulesKey, as: [RuleSetting].self) ?? []).compactMap(\.rule)
        self.key = settings.value(secretKey, as: String.self)
        if let key = self.key, key.utf8.count < 16 {
            self.key = nil
            settings.record(
                .settingWrongFormat,
                "\(secretKey.stringValue) is \(key.utf8.count) characters long; it must have at least 16 (its value is not shown)",
                at: secretKey,
                fix:
                    "Set \(secretKey.stringValue) to a secret of at least 16 characters, e.g. ${TRAWL_OBFUSCATION_KEY}."
            )
        }
        if !settings.contains(secretKey), self.rules.contains(where: { $0.action == .hash }) {
            settings.record(
                .settingMissing,
                "required setting \(secretKey.stringValue) not found: \(rulesKey.stringValue) has hash rules",
                at: secretKey,
                fix:
                    "Add \(secretKey.stringValue): ${TRAWL_OBFUSCATION_KEY} and set that variable to a secret of at least 16 characters; without a secret, hashes of guessable values are easily reversed."
            )
        }
    }

    /// The obfuscator of these rules; nil when there are none.
    var obfuscator: RecordObfuscator? {
        self.rules.isEmpty ? nil : RecordObfuscator(rules: self.rules, hashKey: self.key.map { Array($0.utf8) })
    }

    /// One `obfuscate` entry: `{path: actor.user.name, action: hash}`.
    struct RuleSetting: Decodable {
        var rule: RecordObfuscator.Rule?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case path
            case action
            case mask
        }

        init(from decoder: any Decoder) throws {
            let settings = SettingsReader(decoder, keys: CodingKeys.self)
            let path = settings.string(
                .path,
                required: true,
                format: "a dotted field path such as actor.user.name",
                isValid: isFieldPath
            )
            let action = settings.string(.action, required: true, allowed: ["drop", "mask", "hash"])
            let mask = settings.string(.mask, default: "***") ?? "***"
            guard let path, let action else { return }
            switch action {
            case "drop": self.rule = .init(path: path, action: .drop)
            case "mask": self.rule = .init(path: path, action: .mask(mask))
            default: self.rule = .init(path: path, action: .hash)
            }
        }
    }
}

/// Whether `text` names a record field: a key, or keys joined by dots (`actor.user.name`), none empty.
func isFieldPath(_ text: String) -> Bool {
    !text.isEmpty && !text.hasPrefix(".") && !text.hasSuffix(".") && !text.contains("..")
}
