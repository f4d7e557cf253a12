import Foundation
import NIOCore

/// Where an output sets aside the events it can never deliver (``EventsRefused``): one JSON object per line
/// in `<persistence directory>/<globals.id>/refused/<output>.jsonl`, fsynced, so an operator can inspect
/// them, fix the cause, and replay them (the `body` field holds the event exactly; `body_base64` when it is
/// not UTF-8).
public final class RefusedEventsFile: Sendable {
    public let path: String

    public init(store: FileStateStore, collectorID: String, output: String) {
        self.path = "\(store.directory)/\(collectorID)/refused/\(output).jsonl"
    }

    /// Appends `events` with the reason they were refused, and fsyncs.
    ///
    /// - Throws: PersistenceError 203 when the file cannot be written; the events then stay undelivered.
    public func append(
        _ events: [Event],
        output: String,
        error: TrawlError,
        at time: UTCTimestamp = .now()
    )
        throws(TrawlError)
    {
        var text = ""
        for event in events {
            var fields: [String: Any] = [
                "time": time.description,
                "output": output,
                "error": "\(error.code.kind) \(error.code.id)",
                "message": error.message,
                "tag": event.tag,
                "kind": event.kind == .lookup ? "lookup" : "record",
                "source": event.metadata.source,
                "unit": event.metadata.unit,
                "offset": event.metadata.offset,
            ]
            let bytes = Data(event.body.readableBytesView)
            if event.kind == .record, let body = String(data: bytes, encoding: .utf8) {
                fields["body"] = body
            } else {
                fields["body_base64"] = bytes.base64EncodedString()
            }
            let options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
            guard let line = try? JSONSerialization.data(withJSONObject: fields, options: options) else {
                throw TrawlError(
                    .spoolFailed,
                    "cannot write a refused event of \(event.metadata.unit) as JSON",
                    location: self.path
                )
            }
            text += String(decoding: line, as: UTF8.self) + "\n"
        }
        let directory = String(self.path[..<self.path.lastIndex(of: "/")!])
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: self.path) {
                _ = FileManager.default.createFile(
                    atPath: self.path,
                    contents: nil,
                    attributes: [.posixPermissions: 0o600]
                )
            }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: self.path))
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(text.utf8))
            try handle.synchronize()
        } catch {
            throw TrawlError(
                .spoolFailed,
                "cannot set aside \(events.count) refused events: \(error)",
                location: self.path
            )
        }
    }
}
