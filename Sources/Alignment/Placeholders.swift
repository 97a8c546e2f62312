/// Fills a prompt template's `{name}` placeholders in one pass over the template: each placeholder that
/// `values` names is replaced, everything else (other braces included) is copied as it is, and substituted
/// text is never scanned again. Model outputs are untrusted text: a response that contains `{response_b}`
/// stays those characters, instead of having the other response spliced into it.
public enum Placeholders {
    public static func fill(_ template: String, _ values: KeyValuePairs<String, String>) -> String {
        var out = ""
        var rest = template[...]
        while let open = rest.firstIndex(of: "{") {
            out += rest[..<open]
            let after = rest.index(after: open)
            if let close = rest[after...].firstIndex(of: "}"), let value = values.first(where: { $0.key == rest[after..<close] })?.value {
                out += value
                rest = rest[rest.index(after: close)...]
            } else {
                out += "{"
                rest = rest[after...]
            }
        }
        return out + rest
    }
}
