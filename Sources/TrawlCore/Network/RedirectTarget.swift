/// Where a redirect (3xx) that Trawl did not follow leads, as its errors quote it: the `Location` header,
/// quoted and cut to 200 characters, or "no Location".
public func redirectTarget(_ location: String?) -> String {
    location.map { String($0.prefix(200)).debugDescription } ?? "no Location"
}
