import Foundation
import Kernels
import Tokenizer

/// A model with the tokenizer that came with it.
public struct LoadedModel {
    public let model: LlamaModel
    public let tokenizer: BPETokenizer?
    /// Where it came from (a directory or a .gguf path).
    public let source: String
    /// Things worth telling the user (unknown config keys and the like).
    public let warnings: [String]
}

/// Loading and saving checkpoints: Hugging Face directories (config.json, safetensors, tokenizer.json)
/// and llama.cpp GGUF files. Loading is strict: every expected tensor must be present with its exact
/// shape, and nothing else may be.
public enum Checkpoint {
    /// `precision: .quantized` keeps a GGUF file's matrices in their blocks (inference only); a Hugging Face
    /// directory always loads in float32.
    public static func load(path: String, precision: Precision = .float32) throws -> LoadedModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ModelError("\(path): no such file or directory (expected a Hugging Face model directory or a .gguf file)")
        }
        let url = URL(fileURLWithPath: path)
        if isDir.boolValue && AdapterCheckpoint.isAdapterDirectory(url) { return try AdapterCheckpoint.load(directory: url) }
        let loaded = isDir.boolValue ? try loadHuggingFace(directory: url) : try loadGGUF(url: url, precision: precision)
        loaded.model.origin = url.standardizedFileURL.path
        return loaded
    }

    // MARK: Hugging Face

    public static func loadHuggingFace(directory dir: URL) throws -> LoadedModel {
        let configURL = dir.appendingPathComponent("config.json")
        let configData: Data
        do { configData = try Data(contentsOf: configURL) } catch {
            throw ModelError("\(configURL.path): cannot read (a Hugging Face model directory needs config.json)")
        }
        var (config, unknown) = try LlamaConfig.parse(configData, file: configURL.path)
        var warnings = unknown.isEmpty ? [] : ["\(configURL.path): ignoring unrecognised keys \(unknown.joined(separator: ", "))"]
        if let gen = try? Data(contentsOf: dir.appendingPathComponent("generation_config.json")),
           let json = try? JSONValue.parse(gen, file: "generation_config.json") {
            if let e = json["eos_token_id"]?.int, !config.eosTokenIds.contains(e) { config.eosTokenIds.append(e) }
            for e in json["eos_token_id"]?.array ?? [] { if let i = e.int, !config.eosTokenIds.contains(i) { config.eosTokenIds.append(i) } }
        }
        let files = try weightFiles(in: dir)
        let model = LlamaModel(config: config)
        var expected = Set(model.layout.tensors.map(\.name))
        for file in files {
            for (name, entry) in file.entries.sorted(by: { $0.key < $1.key }) {
                guard let spec = model.layout.spec(named: name), expected.contains(name) else {
                    if model.layout.spec(named: name) != nil {
                        throw ModelError.format(file.path, "tensor '\(name)' appears in more than one file")
                    }
                    let hint = name == "lm_head.weight" && config.tieWordEmbeddings ? " (tie_word_embeddings is true, so no lm_head is expected)" : ""
                    throw ModelError.format(file.path, "unexpected tensor '\(name)'\(hint)")
                }
                guard entry.shape == spec.shape else {
                    throw ModelError.format(file.path, "tensor '\(name)' has shape \(entry.shape), expected \(spec.shape)")
                }
                try file.read(name, into: model.params.pointer + spec.offset)
                try checkFinite(model.params.pointer + spec.offset, count: spec.count, name: name, file: file.path)
                expected.remove(name)
            }
        }
        if let missing = expected.sorted().first {
            throw ModelError.format(dir.path, "missing tensor '\(missing)'\(expected.count > 1 ? " and \(expected.count - 1) more" : "")")
        }
        var tokenizer: BPETokenizer? = nil
        let tokURL = dir.appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: tokURL.path) {
            let t = try BPETokenizer.load(tokenizerJSON: tokURL)
            try applyTokenizerConfig(t, dir: dir)
            if t.eosTokenId == nil, let e = config.eosTokenIds.first { t.eosTokenId = Int32(e) }
            if t.bosTokenId == nil, let b = config.bosTokenId { t.bosTokenId = Int32(b) }
            guard t.vocabularySize <= config.vocabSize else {
                throw ModelError.format(tokURL.path, "has \(t.vocabularySize) tokens but the model's vocab_size is \(config.vocabSize)")
            }
            tokenizer = t
        } else {
            warnings.append("\(dir.path): no tokenizer.json; only token ids can be used with this model")
        }
        return LoadedModel(model: model, tokenizer: tokenizer, source: dir.path, warnings: warnings)
    }

    static func weightFiles(in dir: URL) throws -> [SafetensorsFile] {
        let single = dir.appendingPathComponent("model.safetensors")
        if FileManager.default.fileExists(atPath: single.path) { return [try SafetensorsFile(url: single)] }
        let index = dir.appendingPathComponent("model.safetensors.index.json")
        if FileManager.default.fileExists(atPath: index.path) {
            let json = try JSONValue.parse(try Data(contentsOf: index), file: index.path)
            guard let map = json["weight_map"]?.object else { throw ModelError.format(index.path, "weight_map: expected an object") }
            let names = Set(map.values.compactMap(\.string)).sorted()
            return try names.map { try SafetensorsFile(url: dir.appendingPathComponent($0)) }
        }
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent("pytorch_model.bin").path) {
            throw ModelError("\(dir.path): pytorch_model.bin is not supported; convert the weights to safetensors")
        }
        throw ModelError("\(dir.path): no model.safetensors or model.safetensors.index.json")
    }

    static func applyTokenizerConfig(_ t: BPETokenizer, dir: URL) throws {
        let url = dir.appendingPathComponent("tokenizer_config.json")
        guard let data = try? Data(contentsOf: url) else { return }
        let json = try JSONValue.parse(data, file: url.path)
        func tokenId(_ key: String) -> Int32? {
            guard let v = json[key] else { return nil }
            let content = v.string ?? v["content"]?.string
            return content.flatMap { t.id(of: $0) }
        }
        t.bosTokenId = tokenId("bos_token") ?? t.bosTokenId
        t.eosTokenId = tokenId("eos_token") ?? t.eosTokenId
        t.padTokenId = tokenId("pad_token") ?? t.padTokenId
        t.unkTokenId = tokenId("unk_token") ?? t.unkTokenId
        t.addBosToken = json["add_bos_token"]?.bool ?? t.addBosToken
        if let template = json["chat_template"]?.string { t.chatTemplate = template }
        if let list = json["chat_template"]?.array,
           let def = list.first(where: { $0["name"]?.string == "default" }) ?? list.first {
            t.chatTemplate = def["template"]?.string
        }
    }

    static func checkFinite(_ p: UnsafePointer<Float>, count: Int, name: String, file: String) throws {
        for i in 0..<count where !p[i].isFinite {
            throw ModelError.format(file, "tensor '\(name)' holds a non-finite value (\(p[i])) at element \(i) (corrupt data?)")
        }
    }

    /// A model with adapters is saved as its adapters (PEFT's layout, `AdapterCheckpoint`), else whole (`saveFull`).
    public static func save(_ model: LlamaModel, tokenizer: BPETokenizer?, to dir: URL) throws {
        guard model.adapters != nil else { return try saveFull(model, tokenizer: tokenizer, to: dir) }
        do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw ModelError("\(dir.path): cannot create directory (\(error.localizedDescription))")
        }
        try AdapterCheckpoint.save(model, tokenizer: tokenizer, to: dir)
    }

    /// Writes `config.json`, `model.safetensors` (float32: the base weights, without any adapters),
    /// `generation_config.json` and, with a tokenizer, `tokenizer.json` and `tokenizer_config.json`. Each file
    /// is written atomically.
    public static func saveFull(_ model: LlamaModel, tokenizer: BPETokenizer?, to dir: URL) throws {
        do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw ModelError("\(dir.path): cannot create directory (\(error.localizedDescription))")
        }
        let tensors = model.layout.tensors.map { ($0.name, $0.shape, UnsafePointer(model.params.pointer + $0.offset)) }
        try SafetensorsFile.write(tensors.map { (name: $0.0, shape: $0.1, data: $0.2) }, to: dir.appendingPathComponent("model.safetensors"))
        try AtomicFile.write(model.config.jsonData(), to: dir.appendingPathComponent("config.json"))
        var gen: [String: Any] = ["transformers_version": "4.45.0"]
        if let b = model.config.bosTokenId { gen["bos_token_id"] = b }
        if !model.config.eosTokenIds.isEmpty { gen["eos_token_id"] = model.config.eosTokenIds.count == 1 ? model.config.eosTokenIds[0] : model.config.eosTokenIds }
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: gen, options: [.prettyPrinted, .sortedKeys]),
                             to: dir.appendingPathComponent("generation_config.json"))
        if let tokenizer { try saveTokenizer(tokenizer, to: dir) }
    }

    /// `tokenizer.json` and `tokenizer_config.json`, each written atomically.
    static func saveTokenizer(_ tokenizer: BPETokenizer, to dir: URL) throws {
        try AtomicFile.write(tokenizer.tokenizerJSON(), to: dir.appendingPathComponent("tokenizer.json"))
        try AtomicFile.write(tokenizer.tokenizerConfigJSON(), to: dir.appendingPathComponent("tokenizer_config.json"))
    }
}
