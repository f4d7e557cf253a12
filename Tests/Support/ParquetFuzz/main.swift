import CTrawlFuzzDriver
import NIOCore
import TrawlParquet

#if canImport(Glibc)
import Glibc
#endif

// The fuzz target of the Parquet reader. scripts/fuzz-parquet builds it with libFuzzer and AddressSanitizer
// (`-sanitize=fuzzer,address`) and runs it for a bounded time from the Parquet files in ../shared/vectors:
// any bytes, read as a Parquet file, must end in rows or a ParquetError, never in a crash, a hang or a
// sanitizer report. Built without libFuzzer it exits at once.

/// One input: the bytes as a whole Parquet file, every row group rendered. Exported under libFuzzer's
/// name too, which its runtime refers to.
@_cdecl("LLVMFuzzerTestOneInput")
public func parquetFuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start else { return 0 }
    let bytes = ByteBuffer(bytes: UnsafeBufferPointer(start: start, count: count))
    _ = try? ParquetFileReader.jsonRows(ofFile: bytes, name: "fuzz-input")
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
let status = trawl_run_fuzzer(&argc, &argv) { data, size in parquetFuzzOneInput(data, size) }
if status == -1 {
    print("trawl-parquet-fuzz was built without libFuzzer: build it with scripts/fuzz-parquet")
}
exit(status == -1 ? 0 : status)
