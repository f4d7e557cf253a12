import TrawlCore

/// The cursors one listing has followed, so that a console whose paging loops (a page whose `nextCursor`
/// names a page already read) stops the listing with an error. Followed blindly, such a console keeps the
/// service requesting forever, holds a threat's children in memory without bound and re-delivers a Deep
/// Visibility window's pages again and again.
struct SentinelOneCursorTrail {
    /// The listing's URL, for the error.
    let resource: String
    /// The page number (from 2) each cursor followed so far led to.
    private var pages: [String: Int] = [:]
    /// How many pages this listing has read.
    private var pagesRead = 0

    init(resource: String) {
        self.resource = resource
    }

    /// The cursor of the page after `page`, or nil when `page` is the listing's last.
    ///
    /// - Throws: ApiError 446 when `page` names a cursor this listing has already followed.
    mutating func cursor(after page: SentinelOnePage) throws -> String? {
        self.pagesRead += 1
        guard let cursor = page.nextCursor else { return nil }
        if let earlier = self.pages[cursor] {
            throw TrawlError(
                .sentinelOneAnswerUnreadable,
                "page \(self.pagesRead) of \(self.resource) gives the nextCursor \(String(cursor.prefix(80)).debugDescription) that led to page \(earlier): the console's paging loops, so the listing stops there and the service tries again at its next interval from where it stopped",
                location: self.resource
            )
        }
        self.pages[cursor] = self.pagesRead + 1
        return cursor
    }
}
