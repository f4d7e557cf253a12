import Foundation

/// The tables of docs/errors.md, so each library's tests check its own codes against the documentation.
public enum ErrorCatalogueDocument {
    /// `| id | title | cause | fix |` rows, keyed by id, of the sections whose heading is in `kinds`
    /// (`SetupError`, `ApiError`, ...), or of every section when `kinds` is nil.
    public static func rows(kinds: Set<String>? = nil) throws -> [Int: [String]] {
        let text = try String(contentsOfFile: "\(RepositoryFiles.root)/docs/errors.md", encoding: .utf8)
        var rows: [Int: [String]] = [:]
        var kind = ""
        for line in text.split(separator: "\n") {
            if line.hasPrefix("## ") {
                kind = String(line.dropFirst(3))
                continue
            }
            guard line.hasPrefix("| "), kinds?.contains(kind) ?? true else { continue }
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            if let id = Int(cells[0]) { rows[id] = Array(cells.dropFirst()) }
        }
        return rows
    }
}
