extension AWSEndpoint {
    /// The region an AWS SQS host name is in: `sqs.<region>.amazonaws.com`, `sqs-fips.<region>...`, a VPC
    /// endpoint's `vpce-....sqs.<region>.vpce.amazonaws.com`, the legacy `<region>.queue.amazonaws.com` and
    /// `queue.amazonaws.com` (us-east-1). Nil for any other host (an emulator, a proxy), whose region is
    /// whatever the configuration says. A request signed for another region than its host's is refused by
    /// AWS with a signature error that does not name the setting, so the configuration is checked instead.
    public var sqsRegion: String? {
        let host = self.host.lowercased()
        guard host.hasSuffix(".amazonaws.com") || host.hasSuffix(".amazonaws.com.cn") else { return nil }
        let labels = host.split(separator: ".")
        if host == "queue.amazonaws.com" { return "us-east-1" }
        if let sqs = labels.firstIndex(where: { $0 == "sqs" || $0 == "sqs-fips" }), sqs + 1 < labels.count {
            let region = labels[sqs + 1]
            return region.split(separator: "-").count >= 3 ? String(region) : nil
        }
        if let queue = labels.firstIndex(of: "queue"), queue > 0 {
            let region = labels[queue - 1]
            return region.split(separator: "-").count >= 3 ? String(region) : nil
        }
        return nil
    }
}
