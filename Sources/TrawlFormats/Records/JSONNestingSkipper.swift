import CTrawlText

/// Passes over the inside of a JSON value a block of 64 bytes at a time, for the scanners that only need
/// to know where a record ends: most of a record's bytes lie in strings between brackets that do not end
/// it, and following them a byte at a time cost CloudTrail's `Records` scanner five times the CPU of
/// splitting the same events at line breaks.
enum JSONNestingSkipper {
    /// Follows `raw` from `start` inside a value that closes when the depth returns to `closingDepth`,
    /// updating `depth` and `string` as the byte-at-a-time scan would. Returns where the scan must go on
    /// byte by byte, and whether that is the value's closing bracket (not yet taken). Stops early before
    /// a block holding a backslash and before the last 63 bytes; never starts in the middle of an escape.
    @inline(__always)
    static func skip(
        _ raw: UnsafeRawBufferPointer,
        from start: Int,
        depth: inout Int,
        string: inout JSONStringTracker,
        closingDepth: Int
    ) -> (end: Int, atClose: Bool) {
        guard raw.count - start >= 64, !string.isMidEscape, let base = raw.baseAddress else { return (start, false) }
        var inString = string.inString
        var level = Int64(depth)
        var atClose = false
        let followed = trawl_json_skip_nested(
            base.assumingMemoryBound(to: UInt8.self) + start,
            raw.count - start,
            &inString,
            &level,
            Int64(closingDepth),
            &atClose
        )
        depth = Int(level)
        string.resume(inString: inString)
        return (start + followed, atClose)
    }
}
