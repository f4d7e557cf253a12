import Foundation
import NIOCore

/// The seed's native-alert mapping: a threat's classification and its MITRE ATT&CK tactics and techniques
/// sit in different places of `threatInfo` and `indicators`; Trawl copies them into one `alert` object of
/// every threat record, so a SIEM rule finds them in the same place for every threat.
///
/// `"alert":{"classification":"Trojan","confidence":"malicious","detection_type":"dynamic",
/// "threat_name":"evil.exe","mitre":{"tactics":["Defense Evasion"],"techniques":[{"id":"T1112",
/// "tactic":"Defense Evasion","link":"https://attack.mitre.org/techniques/T1112/"}]}}`
enum SentinelOneThreatAlert {
    /// The `"alert":{...}` member for `record`, or nil when the record is not a JSON object.
    static func member(for record: ByteBuffer) -> String? {
        guard let threat = try? JSONSerialization.jsonObject(with: Data(record.readableBytesView)) as? [String: Any]
        else { return nil }
        let info = threat["threatInfo"] as? [String: Any] ?? [:]
        var tactics: [String] = []
        var techniques: [[String: String]] = []
        for indicator in threat["indicators"] as? [[String: Any]] ?? [] {
            for tactic in indicator["tactics"] as? [[String: Any]] ?? [] {
                let name = tactic["name"] as? String ?? ""
                if !name.isEmpty, !tactics.contains(name) { tactics.append(name) }
                for technique in tactic["techniques"] as? [[String: Any]] ?? [] {
                    var entry = ["id": technique["name"] as? String ?? "", "tactic": name]
                    if let link = technique["link"] as? String { entry["link"] = link }
                    if !techniques.contains(entry) { techniques.append(entry) }
                }
            }
        }
        var alert: [String: Any] = ["mitre": ["tactics": tactics, "techniques": techniques]]
        for (key, field) in [
            ("classification", "classification"), ("confidence", "confidenceLevel"),
            ("detection_type", "detectionType"), ("threat_name", "threatName"),
            ("mitigation_status", "mitigationStatus"),
        ] {
            if let value = info[field] as? String { alert[key] = value }
        }
        guard
            let data = try? JSONSerialization.data(
                withJSONObject: alert,
                options: [.sortedKeys, .withoutEscapingSlashes]
            )
        else { return nil }
        return "\"alert\":" + String(decoding: data, as: UTF8.self)
    }
}
