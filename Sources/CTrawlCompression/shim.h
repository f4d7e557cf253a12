// The decompressors Trawl reads S3 objects with, from Debian's packages (scripts/setup installs them):
// ISA-L's igzip (gzip, about 6x zlib's speed) and crc32c, zstd, snappy and bzip2; and for Parquet pages
// LZ4 blocks and Brotli.
#include <isa-l/igzip_lib.h>
#include <isa-l/crc.h>
#include <zstd.h>
#include <snappy-c.h>
#include <bzlib.h>
#include <lz4.h>
#include <brotli/decode.h>
