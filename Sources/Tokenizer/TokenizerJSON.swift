import Foundation

/// Reading and writing Hugging Face `tokenizer.json` for byte-level BPE. Parts of the pipeline that this
/// implementation does not reproduce are refused with an error naming the field.
extension BPETokenizer {
    public static func load(tokenizerJSON url: URL) throws -> BPETokenizer {
        let file = url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TokenizerError("\(file): cannot read (\(error.localizedDescription))")
        }
        let json: JSONValue
        do { json = try JSONValue.parse(data, file: file) } catch let e as JSONError { throw TokenizerError(e.description) }
        return try fromJSON(json, file: file)
    }

    static func fromJSON(_ json: JSONValue, file: String) throws -> BPETokenizer {
        func fail(_ field: String, _ message: String) -> TokenizerError { TokenizerError("\(file): \(field): \(message)") }
        guard json.object != nil else { throw TokenizerError("\(file): expected a JSON object") }
        if let n = json["normalizer"], !n.isNull {
            throw fail("normalizer", "\(n["type"]?.string ?? n.summary) is not supported (byte-level BPE without a normalizer expected)")
        }
        guard let model = json["model"], model.object != nil else { throw fail("model", "is missing") }
        guard model["type"]?.string == "BPE" else {
            throw fail("model.type", "\(model["type"]?.summary ?? "missing") is not supported (BPE expected)")
        }
        if model["byte_fallback"]?.bool == true { throw fail("model.byte_fallback", "byte fallback is not supported") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = model[key], !v.isNull, v.string != "" { throw fail("model.\(key)", "is not supported") }
        }
        if let d = model["dropout"], !d.isNull, d.double != 0 { throw fail("model.dropout", "BPE dropout is not supported") }
        guard let vocabObject = model["vocab"]?.object else { throw fail("model.vocab", "expected an object of token -> id") }
        var maxId = -1
        var pairs: [(String, Int)] = []
        pairs.reserveCapacity(vocabObject.count)
        // Ids are 0..<N without holes, so none can reach the number of entries the file has: checked before
        // anything is sized by an id.
        let addedEntries = json["added_tokens"]?.array ?? []
        let entries = vocabObject.count + addedEntries.count
        for (token, v) in vocabObject {
            guard let id = v.int, id >= 0 else { throw fail("model.vocab", "token '\(token)' has id \(v.summary), expected a non-negative integer") }
            guard id < entries else { throw fail("model.vocab", "token '\(token)' has id \(id), beyond the \(entries) tokens the file defines (ids run from 0 without holes)") }
            pairs.append((token, id)); maxId = max(maxId, id)
        }
        var added: [AddedToken] = []
        for (i, entry) in addedEntries.enumerated() {
            guard let id = entry["id"]?.int, let content = entry["content"]?.string else {
                throw fail("added_tokens[\(i)]", "expected an object with integer 'id' and string 'content'")
            }
            guard id >= 0 && id < entries else {
                throw fail("added_tokens[\(i)].id", "\(id) is outside 0..<\(entries), the tokens the file defines (ids run from 0 without holes)")
            }
            if entry["single_word"]?.bool == true { throw fail("added_tokens[\(i)].single_word", "is not supported") }
            added.append(AddedToken(id: Int32(id), content: content, special: entry["special"]?.bool ?? false,
                                    lstrip: entry["lstrip"]?.bool ?? false, rstrip: entry["rstrip"]?.bool ?? false))
            maxId = max(maxId, id)
        }
        var tokens = [String?](repeating: nil, count: maxId + 1)
        for (t, id) in pairs { tokens[id] = t }
        for a in added where tokens[Int(a.id)] == nil { tokens[Int(a.id)] = a.content }
        if let hole = tokens.firstIndex(where: { $0 == nil }) { throw fail("model.vocab", "no token has id \(hole)") }
        var merges: [(String, String)] = []
        for (i, m) in (model["merges"]?.array ?? []).enumerated() {
            if let s = m.string {
                let parts = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw fail("model.merges[\(i)]", "expected 'left right', got '\(s)'") }
                merges.append((String(parts[0]), String(parts[1])))
            } else if let a = m.array, a.count == 2, let l = a[0].string, let r = a[1].string {
                merges.append((l, r))
            } else {
                throw fail("model.merges[\(i)]", "expected a string or a pair of strings")
            }
        }
        let pre = try preTokenization(json["pre_tokenizer"], file: file)
        if let dec = json["decoder"], !dec.isNull, dec["type"]?.string != "ByteLevel" {
            throw fail("decoder", "\(dec["type"]?.string ?? dec.summary) is not supported (ByteLevel expected)")
        }
        var unknownId: Int32? = nil
        if let unk = model["unk_token"]?.string {
            guard let id = pairs.first(where: { $0.0 == unk })?.1 ?? added.first(where: { $0.content == unk }).map({ Int($0.id) }) else {
                throw fail("model.unk_token", "'\(unk)' is not in the vocabulary")
            }
            unknownId = Int32(id)
        }
        let t = try BPETokenizer(tokens: tokens.map { $0! }, merges: merges, addedTokens: added, preTokenization: pre,
                                 ignoreMerges: model["ignore_merges"]?.bool ?? false, unknownId: unknownId, source: file)
        t.unkTokenId = unknownId
        return t
    }

    static func preTokenization(_ value: JSONValue?, file: String) throws -> PreTokenization {
        func fail(_ message: String) -> TokenizerError { TokenizerError("\(file): pre_tokenizer: \(message)") }
        guard let value, !value.isNull else { return PreTokenization(pattern: nil) }
        var steps: [JSONValue] = [value]
        if value["type"]?.string == "Sequence" { steps = value["pretokenizers"]?.array ?? [] }
        var result = PreTokenization(pattern: nil)
        var sawByteLevel = false
        for (i, step) in steps.enumerated() {
            switch step["type"]?.string {
            case "Digits":
                guard i == 0, step["individual_digits"]?.bool == true else {
                    throw fail("Digits is supported only first and with individual_digits")
                }
                result.individualDigits = true
            case "Split":
                guard let regex = step["pattern"]?["Regex"]?.string, let p = SplitPattern(regex: regex) else {
                    throw fail("Split pattern \(step["pattern"]?.summary ?? "missing") is not one of the known GPT-2 / Llama-3 / Qwen2 patterns")
                }
                guard step["behavior"]?.string == "Isolated", step["invert"]?.bool != true else {
                    throw fail("Split must have behavior Isolated and invert false")
                }
                if result.pattern != nil { throw fail("more than one splitting regex") }
                result.pattern = p
            case "ByteLevel":
                if step["add_prefix_space"]?.bool == true { throw fail("ByteLevel add_prefix_space is not supported") }
                if step["use_regex"]?.bool ?? true {
                    if result.pattern != nil { throw fail("more than one splitting regex") }
                    result.pattern = .gpt2
                }
                sawByteLevel = true
            default:
                throw fail("\(step["type"]?.string ?? step.summary) is not supported")
            }
        }
        if !sawByteLevel { throw fail("a ByteLevel step is required (byte-level BPE)") }
        return result
    }

    /// A `tokenizer.json` that Hugging Face `tokenizers` loads and that encodes exactly as this tokenizer.
    public func tokenizerJSON() -> Data {
        var steps: [[String: Any]] = []
        if preTokenization.individualDigits { steps.append(["type": "Digits", "individual_digits": true]) }
        switch preTokenization.pattern {
        case .gpt2?:
            steps.append(["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true])
        case let p?:
            steps.append(["type": "Split", "pattern": ["Regex": p.regex], "behavior": "Isolated", "invert": false])
            steps.append(["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false])
        case nil:
            steps.append(["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false])
        }
        let addedIds = Set(addedTokens.map(\.id))
        var vocabDict: [String: Int] = [:]
        for (i, t) in tokens.enumerated() where !addedIds.contains(Int32(i)) || vocab[t] == Int32(i) { vocabDict[t] = i }
        let json: [String: Any] = [
            "version": "1.0",
            "truncation": NSNull(), "padding": NSNull(), "normalizer": NSNull(),
            "added_tokens": addedTokens.map { a -> [String: Any] in
                ["id": Int(a.id), "content": a.content, "single_word": false, "lstrip": a.lstrip, "rstrip": a.rstrip,
                 "normalized": false, "special": a.special]
            },
            "pre_tokenizer": steps.count == 1 ? steps[0] : ["type": "Sequence", "pretokenizers": steps],
            "post_processor": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false],
            "decoder": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true],
            "model": [
                "type": "BPE", "dropout": NSNull(), "unk_token": bpeUnknownId.map { tokens[Int($0)] } ?? NSNull(), "continuing_subword_prefix": NSNull(),
                "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false,
                "ignore_merges": ignoreMerges, "vocab": vocabDict, "merges": merges.map { "\($0.0) \($0.1)" },
            ] as [String: Any],
        ]
        return (try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])) ?? Data()
    }

    /// `tokenizer_config.json` for transformers' AutoTokenizer.
    public func tokenizerConfigJSON() -> Data {
        var json: [String: Any] = [
            "tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": false,
            "add_bos_token": addBosToken, "add_eos_token": false, "model_max_length": 1_000_000,
        ]
        if let b = bosTokenId { json["bos_token"] = tokens[Int(b)] }
        if let e = eosTokenId { json["eos_token"] = tokens[Int(e)] }
        if let p = padTokenId { json["pad_token"] = tokens[Int(p)] }
        if let u = unkTokenId { json["unk_token"] = tokens[Int(u)] }
        if let t = chatTemplate { json["chat_template"] = t }
        return (try? JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    }
}
