/// The version `trawl version` prints and logs at start.
public enum TrawlVersion {
    public static let current = "0.1.0"
}
