/// The memory a row renderer writes its JSON into: one allocation, reused for every piece and doubled
/// when a piece needs more. Rendering writes through a pointer (``ParquetJSONValueWriter``), so a byte
/// costs a store and a capacity check instead of an array's uniqueness and bounds checks, which were a
/// fifth of the rendering time.
///
/// Only one writer uses it at a time: a renderer takes it for one piece and hands the bytes out as a
/// copy before returning, and a copied renderer replaces it before writing (`isKnownUniquelyReferenced`).
final class ParquetJSONStorage {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int

    init(capacity: Int = 64 << 10) {
        self.capacity = max(capacity, 64)
        self.base = .allocate(capacity: self.capacity)
    }

    /// Grows to hold at least `needed` bytes, keeping the first `count`.
    func grow(keeping count: Int, toHold needed: Int) {
        var capacity = self.capacity
        while capacity < needed { capacity = capacity > Int.max / 2 ? needed : capacity * 2 }
        let base = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        base.update(from: self.base, count: count)
        self.base.deallocate()
        self.base = base
        self.capacity = capacity
    }

    deinit {
        self.base.deallocate()
    }
}
