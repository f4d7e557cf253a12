import Testing
import TrawlCore

@Suite struct CRC32Tests {
    @Test func theChecksumIsZlibsCRC32() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
    }

    /// The spool finds where a payload ends behind a damaged length by this search, fed 1 MiB at a time: the
    /// prefix is found however the bytes are cut, and the running checksum carries across the pieces.
    @Test func aPrefixWithTheExpectedChecksumIsFoundAcrossPieces() {
        let payload = Array("a spooled record's payload".utf8)
        let expected = CRC32.checksum(payload)
        let bytes = payload + Array(" and whatever follows it".utf8)
        for cut in 0...bytes.count {
            var running: UInt32 = 0
            let first = bytes[..<cut].withUnsafeBytes {
                CRC32.prefixLength(of: $0, matching: expected, running: &running)
            }
            #expect(running == (first == nil ? CRC32.checksum(Array(bytes[..<cut])) : expected))
            let second = bytes[cut...].withUnsafeBytes {
                CRC32.prefixLength(of: $0, matching: expected, running: &running)
            }
            let found = first ?? second.map { cut + $0 }
            #expect(found == payload.count, "cut at \(cut)")
        }
        var running: UInt32 = 0
        let absent = bytes.withUnsafeBytes { CRC32.prefixLength(of: $0, matching: expected ^ 1, running: &running) }
        #expect(absent == nil)
        #expect(running == CRC32.checksum(bytes))
    }
}
