import CTrawlText

/// Passes over the inside of a JSON value a block of 64 bytes at a time, for the scanners that only need
/// to know where a record ends: most of a record's bytes lie in strings between brackets that do not end
/// it, and following them a byte at a time cost CloudTrail's `Records` scanner five times the CPU of
/// splitting the same events at line breaks. One skipper serves one piece of bytes.
struct JSONNestingSkipper {
    /// Where the next skip may start: after one stopped short of the value's end (a block with a backslash
    /// outside a string), the byte-at-a-time scan takes the next 64 bytes first.
    private var blocksFrom = 0

    /// Follows `raw` from `start` inside a value that closes when the depth returns to `closingDepth`,
    /// updating `depth` and `string` as the byte-at-a-time scan would. Returns where that scan goes on: the
    /// value's closing bracket (not yet taken), a block with a backslash outside a string, or the piece's
    /// last 63 bytes.
    @inline(__always)
    mutating func skip(
        _ raw: UnsafeRawBufferPointer,
        from start: Int,
        depth: inout Int,
        string: inout JSONStringTracker,
        closingDepth: Int
    ) -> Int {
        guard start >= self.blocksFrom, raw.count - start >= 64, let base = raw.baseAddress else { return start }
        var inString = string.inString
        var escapeNext = string.isMidEscape
        var level = Int64(depth)
        var atClose = false
        let followed = trawl_json_skip_nested(
            base.assumingMemoryBound(to: UInt8.self) + start,
            raw.count - start,
            &inString,
            &escapeNext,
            &level,
            Int64(closingDepth),
            &atClose
        )
        depth = Int(level)
        string.resume(inString: inString, escapeNext: escapeNext)
        if !atClose { self.blocksFrom = start + followed + 64 }
        return start + followed
    }
}
