import Foundation
import Tokenizer

/// Reading JSON Lines: every non-blank line must parse, and errors name the file and line number.
public enum JSONLines {
    public static func read(_ path: String) throws -> [(line: Int, value: JSONValue)] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PipelineError("\(path): cannot read")
        }
        var out: [(Int, JSONValue)] = []
        var lineNumber = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            do { out.append((lineNumber, try JSONValue.parse(Data(line), file: "\(path):\(lineNumber)"))) } catch let e as JSONError {
                throw PipelineError(e.description)
            }
        }
        return out
    }

    /// A JSON object as one line, keys sorted (so that files compare byte for byte), "/" unescaped (TRL metric names).
    public static func object(_ fields: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
    }

    /// A JSON string literal (RFC 8259 escaping).
    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    /// A number as JSON (finite values only; non-finite become null).
    public static func number<F: BinaryFloatingPoint & LosslessStringConvertible>(_ x: F) -> String {
        x.isFinite ? "\(x)" : "null"
    }
}
