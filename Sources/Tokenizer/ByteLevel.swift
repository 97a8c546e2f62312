/// GPT-2's reversible map between bytes and printable unicode characters: printable Latin-1 bytes map
/// to themselves, the other 68 bytes to U+0100 upwards, so every byte string is a string of "visible"
/// characters that BPE can merge.
public enum ByteLevel {
    public static let byteToScalar: [Unicode.Scalar] = {
        var printable: [Int] = Array(33...126) + Array(161...172) + Array(174...255)
        let kept = Set(printable)
        var map = [Unicode.Scalar](repeating: " ", count: 256)
        for b in printable { map[b] = Unicode.Scalar(UInt32(b))! }
        var n = 0
        for b in 0..<256 where !kept.contains(b) {
            map[b] = Unicode.Scalar(UInt32(256 + n))!
            n += 1
            printable.append(b)
        }
        return map
    }()

    public static let scalarToByte: [UInt32: UInt8] = {
        var m: [UInt32: UInt8] = [:]
        for (b, s) in byteToScalar.enumerated() { m[s.value] = UInt8(b) }
        return m
    }()

    /// The byte-level spelling of some UTF-8 bytes.
    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(byteToScalar[Int(b)]) }
        return String(s)
    }

    /// The bytes a token spells, or nil if it contains a character outside the map.
    public static func decode(_ token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for s in token.unicodeScalars {
            guard let b = scalarToByte[s.value] else { return nil }
            out.append(b)
        }
        return out
    }
}
