import NIOCore

/// Finds the elements of one JSON array inside a document fed in pieces, without parsing them: the root
/// array, or the array under a field of the root object: a top-level key (`{"Records": [...]}`) or a dotted
/// path through nested objects (`detail.findings` in `{"detail": {"findings": [...]}}`, as EventBridge
/// delivers Security Hub findings). Each element is handed out as its exact bytes; the rest of the document
/// is only checked for balance.
struct JSONElementScanner {
    /// The list field as one key, which the root object may hold as it is (dots included).
    let listField: [UInt8]?
    /// The list field's dotted parts, each a key of the object the one before names.
    private let listPath: [[UInt8]]
    /// How many parts of the path lead to the object being searched for the next part (0: the root).
    private var matched = 0
    private var depth = 0
    private var string = JSONStringTracker()
    private var sawRoot = false
    private var rootClosed = false
    /// Inside the object searched for the path's next part, a key is expected next.
    private var expectKey = false
    private var capturingKey = false
    /// The current key's bytes as written, escapes included (its first 1,024).
    private var key: [UInt8] = []
    /// The value after the current key is the list field.
    private var valueIsTarget = false
    /// The value after the current key is the object that holds the path's next part.
    private var valueIsStep = false
    private var foundTarget = false
    /// Depth of the target array's elements while inside it.
    private var targetDepth: Int?
    private var inElement = false
    private var elementIsScalar = false
    private var elementIsString = false
    private var element = SpanningRecord()

    init(listField: String?) {
        self.listField = listField.map { Array($0.utf8) }
        self.listPath =
            listField.map { $0.split(separator: ".", omittingEmptySubsequences: false).map { Array($0.utf8) } } ?? []
    }

    /// Whether the current key's text, escapes resolved, is `name`: `"Rec\u006frds"` is `Records`.
    private func keyIs(_ name: [UInt8]) -> Bool {
        guard self.key.contains(UInt8(ascii: "\\")) else { return self.key == name }
        return name.withUnsafeBytes { text in
            self.key.withUnsafeBytes { JSONCursor.textEquals(text, escaped: $0) }
        }
    }

    /// The scanner is directly inside the object that may hold the path's next part, the list not found yet.
    private var inPathObject: Bool {
        self.listField != nil && self.targetDepth == nil && self.depth == self.matched + 1
    }

    /// What the value after the current key is: the list (the path's last part, or the whole field as
    /// one key of the root), or the object holding the next part.
    private mutating func classifyKey() {
        let last = self.matched == self.listPath.count - 1
        let isPart = self.keyIs(self.listPath[self.matched])
        self.valueIsStep = isPart && !last
        self.valueIsTarget =
            (isPart && last) || (self.matched == 0 && self.listPath.count > 1 && self.keyIs(self.listField ?? []))
    }

    /// Keeps a run of the current key's plain text, up to the key's first 1,024 bytes.
    private mutating func captureKey(_ raw: UnsafeRawBufferPointer, from start: Int, to end: Int) {
        let room = 1024 - self.key.count
        guard room > 0 else { return }
        self.key.append(contentsOf: raw[start..<min(end, start + room)])
    }

    mutating func scan(_ bytes: ByteBuffer, into records: inout [ByteBuffer]) throws(RecordFormatFailure) {
        var failure: RecordFormatFailure?
        bytes.withUnsafeReadableBytes { raw in
            var elementStart = 0
            func emit(through end: Int) {
                records.append(self.element.complete(bytes, raw, from: elementStart, to: end))
                self.inElement = false
            }
            func start(_ index: Int, scalar: Bool, string: Bool = false) {
                self.inElement = true
                self.elementIsScalar = scalar
                self.elementIsString = string
                elementStart = index
            }
            var index = 0
            var skipper = JSONNestingSkipper()
            while index < raw.count {
                if self.inElement, !self.elementIsScalar, !self.elementIsString, let closingDepth = self.targetDepth {
                    index = skipper.skip(
                        raw,
                        from: index,
                        depth: &self.depth,
                        string: &self.string,
                        closingDepth: closingDepth
                    )
                    guard index < raw.count else { break }
                }
                if self.string.inString {
                    let plainEnd = self.string.plainTextEnd(in: raw, from: index)
                    if self.capturingKey, plainEnd > index { self.captureKey(raw, from: index, to: plainEnd) }
                    index = plainEnd
                    guard index < raw.count else { break }
                    let byte = raw[index]
                    switch self.string.take(byte) {
                    case .closed:
                        self.capturingKey = false
                        if self.inElement, self.elementIsString, self.targetDepth == self.depth {
                            emit(through: index + 1)
                        }
                    case .text, .escape:
                        if self.capturingKey, self.key.count < 1024 { self.key.append(byte) }
                    }
                    index += 1
                    continue
                }
                let byte = raw[index]
                let atElementLevel = self.targetDepth == self.depth
                switch byte {
                case 0x20, 0x09, 0x0a, 0x0d:
                    if self.inElement, self.elementIsScalar, atElementLevel { emit(through: index) }
                case UInt8(ascii: "\""):
                    if let outside = self.outsideTheRoot {
                        failure = outside
                        return
                    }
                    self.string.open()
                    if self.inPathObject, self.expectKey {
                        self.capturingKey = true
                        self.key.removeAll(keepingCapacity: true)
                    } else if self.inPathObject {
                        self.valueIsTarget = false
                        self.valueIsStep = false
                    } else if atElementLevel, !self.inElement {
                        start(index, scalar: false, string: true)
                    }
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    if self.rootClosed {
                        failure = RecordFormatFailure(description: "data follows the end of the JSON document")
                        return
                    }
                    if !self.sawRoot {
                        self.sawRoot = true
                        if self.listField == nil {
                            guard byte == UInt8(ascii: "[") else {
                                failure = RecordFormatFailure(description: "the object is not a JSON array")
                                return
                            }
                            self.targetDepth = 1
                            self.foundTarget = true
                        } else {
                            guard byte == UInt8(ascii: "{") else {
                                failure = RecordFormatFailure(description: "the object is not a JSON document (object)")
                                return
                            }
                            self.expectKey = true
                        }
                    } else if atElementLevel, !self.inElement {
                        start(index, scalar: false)
                    } else if self.inPathObject {
                        if self.valueIsTarget, byte == UInt8(ascii: "[") {
                            self.targetDepth = self.depth + 1
                            self.foundTarget = true
                        } else if self.valueIsStep, byte == UInt8(ascii: "{") {
                            self.matched += 1
                            self.expectKey = true
                        }
                        self.valueIsTarget = false
                        self.valueIsStep = false
                    }
                    self.depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    if self.inElement, self.elementIsScalar, atElementLevel { emit(through: index) }
                    self.depth -= 1
                    if self.depth < 0 {
                        failure = RecordFormatFailure(description: "a JSON bracket closes nothing")
                        return
                    }
                    if let target = self.targetDepth {
                        if self.inElement, !self.elementIsScalar, self.depth == target {
                            emit(through: index + 1)
                        } else if self.depth == target - 1 {
                            self.targetDepth = self.listField == nil ? nil : -1
                        }
                    }
                    if self.listField != nil, self.targetDepth == nil, self.matched > 0, self.depth == self.matched {
                        // An object on the path closed without the list: its parent is searched on.
                        self.matched -= 1
                    }
                    if self.depth == 0 { self.rootClosed = true }
                case UInt8(ascii: ","):
                    if let outside = self.outsideTheRoot {
                        failure = outside
                        return
                    }
                    if self.inElement, self.elementIsScalar, atElementLevel { emit(through: index) }
                    if self.depth == self.matched + 1 { self.expectKey = true }
                case UInt8(ascii: ":"):
                    if let outside = self.outsideTheRoot {
                        failure = outside
                        return
                    }
                    if self.inPathObject {
                        self.expectKey = false
                        self.classifyKey()
                    }
                default:
                    if self.rootClosed || !self.sawRoot {
                        failure = RecordFormatFailure(description: "the object is not JSON")
                        return
                    }
                    if atElementLevel, !self.inElement {
                        start(index, scalar: true)
                    } else if self.inPathObject {
                        self.valueIsTarget = false
                        self.valueIsStep = false
                    }
                }
                index += 1
            }
            if self.inElement { self.element.keep(raw, from: elementStart) }
        }
        if let failure { throw failure }
    }

    /// Why a string, comma or colon cannot stand where it is when it lies before or after the root value;
    /// nil inside it.
    private var outsideTheRoot: RecordFormatFailure? {
        if self.rootClosed { return RecordFormatFailure(description: "data follows the end of the JSON document") }
        if !self.sawRoot { return RecordFormatFailure(description: "the object is not JSON") }
        return nil
    }

    /// Bytes of an element whose end has not arrived yet.
    var pendingBytes: Int { self.element.keptBytes }

    func finish() throws(RecordFormatFailure) {
        guard self.sawRoot else { return }
        guard self.rootClosed, !self.string.inString, self.depth == 0 else {
            throw RecordFormatFailure(description: "the object ends inside a JSON value (truncated?)")
        }
        if let field = self.listField, !self.foundTarget {
            throw RecordFormatFailure(
                description: "the JSON document has no list field \"\(String(decoding: field, as: UTF8.self))\""
            )
        }
    }
}
