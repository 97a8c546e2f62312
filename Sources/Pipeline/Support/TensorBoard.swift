import Foundation
import Model
import Tokenizer

/// TensorBoard event files, written without TensorFlow: a TFRecord stream (length, masked CRC32C of the
/// length, an `Event` protocol buffer, its masked CRC32C) whose first event names the file version and whose
/// others each carry scalar summaries (`Event.summary.value[].simple_value`).
public enum TensorBoard {
    public struct Scalar: Equatable {
        public var tag: String, step: Int64, value: Float
        public init(tag: String, step: Int64, value: Float) { self.tag = tag; self.step = step; self.value = value }
    }

    /// The whole event file for `scalars` (one event per scalar; `wallTime` on every event).
    public static func eventFile(_ scalars: [Scalar], wallTime: Double = 0) -> Data {
        var out = Data()
        var version = Protobuf()
        version.double(1, wallTime)
        version.bytes(3, Data("brain.Event:2".utf8))
        record(version.data, into: &out)
        for s in scalars {
            var value = Protobuf()
            value.bytes(1, Data(s.tag.utf8))
            value.float(2, s.value)
            var summary = Protobuf()
            summary.bytes(1, value.data)
            var event = Protobuf()
            event.double(1, wallTime)
            event.varint(2, UInt64(bitPattern: s.step))
            event.bytes(5, summary.data)
            record(event.data, into: &out)
        }
        return out
    }

    static func record(_ payload: Data, into out: inout Data) {
        var length = UInt64(payload.count).littleEndian
        let lengthBytes = withUnsafeBytes(of: &length) { Data($0) }
        out.append(lengthBytes)
        append32(maskedCRC(lengthBytes), to: &out)
        out.append(payload)
        append32(maskedCRC(payload), to: &out)
    }

    static func append32(_ v: UInt32, to out: inout Data) {
        var le = v.littleEndian
        withUnsafeBytes(of: &le) { out.append(contentsOf: $0) }
    }

    /// TFRecord's mask over CRC-32C (Castagnoli).
    static func maskedCRC(_ data: Data) -> UInt32 {
        let crc = crc32c(data)
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }

    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    public static func crc32c(_ data: Data) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in data { crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    /// The scalars of a run's metrics files, folder by folder in run order: every numeric field of a
    /// training step's line, tagged "PHASE/FIELD" at its step (e.g. "round-1-3-train/rewards/margins"), and
    /// the evaluations' accuracy tagged "accuracy/LABEL-FOLDER" at step 0 ("accuracy/initial", ...) so that
    /// each round's figure is one point of its own.
    public static func scalars(ofMetrics files: [(folder: String, url: URL)]) throws -> [Scalar] {
        var out: [Scalar] = []
        for (folder, url) in files {
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            for (_, line) in try JSONLines.read(url.path) {
                guard let fields = line.object else { continue }
                let phase = fields["phase"]?.string ?? folder
                if let step = fields["step"]?.int {
                    for key in fields.keys.sorted() where key != "step" && key != "phase" {
                        if let v = fields[key]?.double { out.append(Scalar(tag: "\(phase)/\(key)", step: Int64(step), value: Float(v))) }
                    }
                } else if phase == "evaluate", let acc = fields["accuracy"]?.double {
                    let round = folder.hasPrefix("round-") ? Int64(folder.dropFirst(6)) ?? 0 : folder == "control" ? -1 : 0
                    out.append(Scalar(tag: "evaluate/accuracy" + (folder == "control" ? "_control" : ""), step: max(round, 0), value: Float(acc)))
                }
            }
        }
        return out
    }
}

/// Just enough of the protocol-buffer wire format to write TensorBoard's `Event`.
struct Protobuf {
    var data = Data()
    mutating func key(_ field: Int, _ wire: UInt64) { varintRaw(UInt64(field) << 3 | wire) }
    mutating func varintRaw(_ v: UInt64) {
        var v = v
        while v >= 0x80 { data.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        data.append(UInt8(v))
    }
    mutating func varint(_ field: Int, _ v: UInt64) { key(field, 0); varintRaw(v) }
    mutating func double(_ field: Int, _ v: Double) {
        key(field, 1)
        var le = v.bitPattern.littleEndian
        withUnsafeBytes(of: &le) { data.append(contentsOf: $0) }
    }
    mutating func float(_ field: Int, _ v: Float) {
        key(field, 5)
        var le = v.bitPattern.littleEndian
        withUnsafeBytes(of: &le) { data.append(contentsOf: $0) }
    }
    mutating func bytes(_ field: Int, _ b: Data) { key(field, 2); varintRaw(UInt64(b.count)); data.append(b) }
}
