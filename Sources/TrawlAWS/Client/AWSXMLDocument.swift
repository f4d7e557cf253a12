/// A minimal XML tree for the small documents S3 and STS answer with (listings, errors, credentials).
///
/// Foundation's `XMLParser` needs libxml2 on Linux and builds far more than these answers need: elements,
/// text and the five predefined plus numeric entities; attributes, comments, processing instructions
/// and DOCTYPEs are skipped.
public struct AWSXMLElement: Sendable {
    public var name: String
    public var text: String
    public var children: [AWSXMLElement]

    /// The first child named `name`.
    public subscript(_ name: String) -> AWSXMLElement? {
        self.children.first { $0.name == name }
    }

    /// Every child named `name`.
    public func all(_ name: String) -> [AWSXMLElement] {
        self.children.filter { $0.name == name }
    }

    /// The element at a `/`-separated path below this one (`Error/Code`).
    public func at(_ path: String) -> AWSXMLElement? {
        var element: AWSXMLElement? = self
        for part in path.split(separator: "/") {
            element = element?[String(part)]
        }
        return element
    }

    /// The first element named `name` at any depth, this one included (depth first).
    public func firstDescendant(named name: String) -> AWSXMLElement? {
        if self.name == name { return self }
        for child in self.children {
            if let found = child.firstDescendant(named: name) { return found }
        }
        return nil
    }

    /// How deep elements may nest. AWS's answers nest a handful of levels (`ListBucketResult/Contents/Owner/ID`);
    /// a deeper document is refused, since walking or freeing a tree of thousands of levels (a hostile
    /// answer of `<a><a><a>...`) would overflow the stack.
    public static let maximumDepth = 64

    /// Parses a document; nil when it is not well-formed enough to read or nests deeper than
    /// ``maximumDepth``.
    public static func parse(_ bytes: some Collection<UInt8>) -> AWSXMLElement? {
        var parser = Parser(bytes: Array(bytes))
        return parser.document()
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func document() -> AWSXMLElement? {
            var stack: [AWSXMLElement] = []
            var root: AWSXMLElement?
            while self.index < self.bytes.count {
                if self.bytes[self.index] != UInt8(ascii: "<") {
                    let start = self.index
                    while self.index < self.bytes.count, self.bytes[self.index] != UInt8(ascii: "<") {
                        self.index += 1
                    }
                    guard !stack.isEmpty else { continue }
                    guard let text = Self.unescape(self.bytes[start..<self.index]) else { return nil }
                    stack[stack.count - 1].text += text
                    continue
                }
                if self.skip(prefix: "<![CDATA[") {
                    guard let end = self.find("]]>") else { return nil }
                    if !stack.isEmpty {
                        stack[stack.count - 1].text += String(decoding: self.bytes[self.index..<end], as: UTF8.self)
                    }
                    self.index = end + 3
                } else if self.skip(prefix: "<?") {
                    guard let end = self.find("?>") else { return nil }
                    self.index = end + 2
                } else if self.skip(prefix: "<!--") {
                    guard let end = self.find("-->") else { return nil }
                    self.index = end + 3
                } else if self.skip(prefix: "<!") {
                    guard let end = self.find(">") else { return nil }
                    self.index = end + 1
                } else if self.skip(prefix: "</") {
                    guard let end = self.find(">") else { return nil }
                    let name = String(decoding: self.bytes[self.index..<end], as: UTF8.self)
                        .trimmingTrailingSpaces()
                    self.index = end + 1
                    guard let element = stack.popLast(), element.name == name else { return nil }
                    if stack.isEmpty {
                        root = element
                    } else {
                        stack[stack.count - 1].children.append(element)
                    }
                } else {
                    self.index += 1
                    let nameStart = self.index
                    while self.index < self.bytes.count, !Self.endsName(self.bytes[self.index]) {
                        self.index += 1
                    }
                    let name = String(decoding: self.bytes[nameStart..<self.index], as: UTF8.self)
                    guard !name.isEmpty, let close = self.endOfTag() else { return nil }
                    let selfClosing = self.bytes[close - 1] == UInt8(ascii: "/")
                    self.index = close + 1
                    let element = AWSXMLElement(name: name, text: "", children: [])
                    if selfClosing {
                        if stack.isEmpty { root = element } else { stack[stack.count - 1].children.append(element) }
                    } else {
                        guard stack.count < AWSXMLElement.maximumDepth else { return nil }
                        stack.append(element)
                    }
                }
            }
            return stack.isEmpty ? root : nil
        }

        static func endsName(_ byte: UInt8) -> Bool {
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "/")
                || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
        }

        /// The index of the `>` closing the current tag, skipping quoted attribute values.
        func endOfTag() -> Int? {
            var position = self.index
            var quote: UInt8?
            while position < self.bytes.count {
                let byte = self.bytes[position]
                if let open = quote {
                    if byte == open { quote = nil }
                } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                    quote = byte
                } else if byte == UInt8(ascii: ">") {
                    return position
                }
                position += 1
            }
            return nil
        }

        mutating func skip(prefix: String) -> Bool {
            let pattern = Array(prefix.utf8)
            guard self.index + pattern.count <= self.bytes.count,
                self.bytes[self.index..<self.index + pattern.count].elementsEqual(pattern)
            else { return false }
            self.index += pattern.count
            return true
        }

        func find(_ text: String) -> Int? {
            let pattern = Array(text.utf8)
            var position = self.index
            while position + pattern.count <= self.bytes.count {
                if self.bytes[position..<position + pattern.count].elementsEqual(pattern) { return position }
                position += 1
            }
            return nil
        }

        static func unescape(_ raw: ArraySlice<UInt8>) -> String? {
            guard raw.contains(UInt8(ascii: "&")) else { return String(decoding: raw, as: UTF8.self) }
            var output: [UInt8] = []
            var position = raw.startIndex
            while position < raw.endIndex {
                let byte = raw[position]
                guard byte == UInt8(ascii: "&") else {
                    output.append(byte)
                    position += 1
                    continue
                }
                guard let semicolon = raw[position...].firstIndex(of: UInt8(ascii: ";")) else { return nil }
                let entity = String(decoding: raw[(position + 1)..<semicolon], as: UTF8.self)
                switch entity {
                case "amp": output.append(UInt8(ascii: "&"))
                case "lt": output.append(UInt8(ascii: "<"))
                case "gt": output.append(UInt8(ascii: ">"))
                case "quot": output.append(UInt8(ascii: "\""))
                case "apos": output.append(UInt8(ascii: "'"))
                default:
                    let scalarValue: UInt32?
                    if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                        scalarValue = UInt32(entity.dropFirst(2), radix: 16)
                    } else if entity.hasPrefix("#") {
                        scalarValue = UInt32(entity.dropFirst())
                    } else {
                        return nil
                    }
                    guard let scalarValue, let scalar = Unicode.Scalar(scalarValue) else { return nil }
                    output.append(contentsOf: Array(String(Character(scalar)).utf8))
                }
                position = semicolon + 1
            }
            return String(decoding: output, as: UTF8.self)
        }
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var text = self
        while let last = text.last, last == " " || last == "\t" || last == "\n" || last == "\r" { text.removeLast() }
        return text
    }
}
