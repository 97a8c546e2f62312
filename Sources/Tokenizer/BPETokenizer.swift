/// Errors from reading or using a tokenizer; messages name the file and the field.
public struct TokenizerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A token that is matched in raw text before pre-tokenization (`<|im_start|>` and the like).
public struct AddedToken: Sendable, Equatable {
    public var id: Int32
    public var content: String
    public var special: Bool
    public var lstrip = false
    public var rstrip = false
    public init(id: Int32, content: String, special: Bool, lstrip: Bool = false, rstrip: Bool = false) {
        self.id = id; self.content = content; self.special = special; self.lstrip = lstrip; self.rstrip = rstrip
    }
}

/// How text is cut into pieces before BPE.
public struct PreTokenization: Sendable, Equatable {
    /// Isolate every numeric character first (SmolLM's Digits(individual_digits)).
    public var individualDigits = false
    /// The splitting regex, or nil to keep each piece whole.
    public var pattern: SplitPattern?
    public init(individualDigits: Bool = false, pattern: SplitPattern?) {
        self.individualDigits = individualDigits; self.pattern = pattern
    }
}

/// Byte-level BPE: the tokenizer of the GPT-2 / Llama-3 / SmolLM families, and (with no merges) the
/// plain byte tokenizer of models trained from scratch.
public final class BPETokenizer: @unchecked Sendable {
    public let tokens: [String]
    public let vocab: [String: Int32]
    /// Merges in rank order, as pairs of token strings.
    public let merges: [(String, String)]
    public let addedTokens: [AddedToken]
    public let preTokenization: PreTokenization
    public let ignoreMerges: Bool
    /// The BPE model's unknown token (used for bytes the vocabulary lacks); nil drops such bytes.
    public let bpeUnknownId: Int32?
    public var bosTokenId: Int32?
    public var eosTokenId: Int32?
    public var padTokenId: Int32?
    public var unkTokenId: Int32?
    /// Whether the model expects BOS at the start of a sequence (from the tokenizer's metadata).
    public var addBosToken = false
    /// The chat template string shipped with the model, if any.
    public var chatTemplate: String?

    private let mergeTable: [UInt64: (rank: Int32, id: Int32)]
    private let byteIds: [Int32]
    private let addedById: [Int32: AddedToken]
    private let addedByFirstByte: [UInt8: [AddedToken]]
    private var cache: [String: [Int32]] = [:]
    private let cacheLock = Lock()

    public init(tokens: [String], merges: [(String, String)], addedTokens: [AddedToken],
                preTokenization: PreTokenization, ignoreMerges: Bool = false, unknownId: Int32? = nil,
                source: String) throws {
        var vocab: [String: Int32] = [:]
        vocab.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where vocab[t] == nil { vocab[t] = Int32(i) }
        for a in addedTokens {
            guard a.id >= 0 && Int(a.id) < tokens.count else {
                throw TokenizerError("\(source): added token '\(a.content)' has id \(a.id), outside the vocabulary of \(tokens.count)")
            }
        }
        var table: [UInt64: (rank: Int32, id: Int32)] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let ia = vocab[a], let ib = vocab[b], let merged = vocab[a + b] else {
                throw TokenizerError("\(source): merge \(rank) ('\(a)' '\(b)') uses a token that is not in the vocabulary")
            }
            let key = UInt64(UInt32(ia)) << 32 | UInt64(UInt32(ib))
            if table[key] == nil { table[key] = (Int32(rank), merged) }
        }
        // Some vocabularies lack a few bytes (SmolLM's has no token for bytes that never occur in
        // UTF-8 text); such bytes become `unknownId` or, as in Hugging Face's BPE without an unk token,
        // are dropped.
        var byteIds = [Int32](repeating: -1, count: 256)
        for b in 0..<256 { byteIds[b] = vocab[String(ByteLevel.byteToScalar[b])] ?? unknownId ?? -1 }
        self.tokens = tokens
        self.vocab = vocab
        self.merges = merges
        self.addedTokens = addedTokens
        self.preTokenization = preTokenization
        self.ignoreMerges = ignoreMerges
        bpeUnknownId = unknownId
        mergeTable = table
        self.byteIds = byteIds
        addedById = Dictionary(addedTokens.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var byFirst: [UInt8: [AddedToken]] = [:]
        for a in addedTokens where !a.content.isEmpty {
            byFirst[Array(a.content.utf8)[0], default: []].append(a)
        }
        // Longest first, so that the first hit at a position is the longest match.
        addedByFirstByte = byFirst.mapValues { $0.sorted { $0.content.utf8.count > $1.content.utf8.count } }
    }

    /// The built-in tokenizer for models trained from scratch: one token per byte (ids 0-255), then
    /// `<|endoftext|>` (256, BOS/EOS/pad), `<|im_start|>` (257) and `<|im_end|>` (258).
    public static func bytes() -> BPETokenizer {
        var tokens = (0..<256).map { String(ByteLevel.byteToScalar[$0]) }
        tokens += ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        let added = [AddedToken(id: 256, content: "<|endoftext|>", special: true),
                     AddedToken(id: 257, content: "<|im_start|>", special: true),
                     AddedToken(id: 258, content: "<|im_end|>", special: true)]
        // Force-unwrapped: this vocabulary is fixed and complete by construction.
        let t = try! BPETokenizer(tokens: tokens, merges: [], addedTokens: added,
                                  preTokenization: PreTokenization(pattern: nil), source: "built-in bytes")
        t.bosTokenId = 256; t.eosTokenId = 256; t.padTokenId = 256
        return t
    }

    public var vocabularySize: Int { tokens.count }

    public func isSpecial(_ id: Int32) -> Bool { addedById[id]?.special ?? false }

    public func id(of token: String) -> Int32? { vocab[token] }

    // MARK: encode

    /// Token ids of `text` as a prompt: `encode`, with the beginning-of-sequence token in front when the
    /// model wants one and the text does not already begin with it (a chat format may write it itself).
    /// Every prompt the program builds goes through here.
    public func encodePrompt(_ text: String, parseSpecial: Bool = true) -> [Int32] {
        var ids = encode(text, parseSpecial: parseSpecial)
        if addBosToken, let b = bosTokenId, ids.first != b { ids.insert(b, at: 0) }
        return ids
    }

    /// Token ids of `text`, without BOS/EOS. With `parseSpecial` (the Hugging Face default) special-token
    /// strings in the text become their ids; without it they are encoded as ordinary text.
    public func encode(_ text: String, parseSpecial: Bool = true) -> [Int32] {
        var out: [Int32] = []
        let utf8 = Array(text.utf8)
        var start = 0, i = 0
        while i < utf8.count {
            if let candidates = addedByFirstByte[utf8[i]],
               let hit = candidates.first(where: { (parseSpecial || !$0.special) && matches($0.content, utf8, at: i) }) {
                var segEnd = i
                if hit.lstrip { while segEnd > start && utf8[segEnd - 1] == 32 { segEnd -= 1 } }
                encodeOrdinary(utf8[start..<segEnd], into: &out)
                out.append(hit.id)
                i += hit.content.utf8.count
                if hit.rstrip { while i < utf8.count && utf8[i] == 32 { i += 1 } }
                start = i
            } else {
                i += 1
            }
        }
        encodeOrdinary(utf8[start..<utf8.count], into: &out)
        return out
    }

    private func matches(_ content: String, _ bytes: [UInt8], at i: Int) -> Bool {
        var j = i
        for b in content.utf8 {
            if j >= bytes.count || bytes[j] != b { return false }
            j += 1
        }
        return true
    }

    private func encodeOrdinary(_ bytes: ArraySlice<UInt8>, into out: inout [Int32]) {
        if bytes.isEmpty { return }
        let text = String(decoding: bytes, as: UTF8.self)
        let scalars = Array(text.unicodeScalars)
        var pieces: [Range<Int>] = []
        if preTokenization.individualDigits {
            PreTokenizer.splitDigits(scalars, range: 0..<scalars.count, into: &pieces)
        } else {
            pieces = [0..<scalars.count]
        }
        if let pattern = preTokenization.pattern {
            var split: [Range<Int>] = []
            for p in pieces { PreTokenizer.split(scalars, range: p, pattern: pattern, into: &split) }
            pieces = split
        }
        for p in pieces {
            var s = String.UnicodeScalarView()
            s.append(contentsOf: scalars[p])
            out.append(contentsOf: bpe(String(s)))
        }
    }

    /// BPE of one piece: its UTF-8 bytes as byte tokens, merged lowest rank first (leftmost on ties).
    private func bpe(_ piece: String) -> [Int32] {
        cacheLock.lock()
        if let hit = cache[piece] { cacheLock.unlock(); return hit }
        cacheLock.unlock()
        var symbols = piece.utf8.compactMap { b -> Int32? in let id = byteIds[Int(b)]; return id >= 0 ? id : nil }
        if ignoreMerges, let whole = vocab[ByteLevel.encode(piece.utf8)] {
            symbols = [whole]
        } else {
            while symbols.count > 1 {
                var best: (rank: Int32, id: Int32)? = nil
                var at = -1
                for k in 0..<(symbols.count - 1) {
                    let key = UInt64(UInt32(symbols[k])) << 32 | UInt64(UInt32(symbols[k + 1]))
                    if let m = mergeTable[key], best == nil || m.rank < best!.rank { best = m; at = k }
                }
                guard let merge = best else { break }
                symbols[at] = merge.id
                symbols.remove(at: at + 1)
            }
        }
        cacheLock.lock()
        if cache.count > 100_000 { cache.removeAll(keepingCapacity: true) }
        cache[piece] = symbols
        cacheLock.unlock()
        return symbols
    }

    // MARK: decode

    /// Text of `ids`. Byte-level tokens are turned back into bytes (a token with a character outside the
    /// byte map contributes its own UTF-8, as Hugging Face's ByteLevel decoder does); invalid UTF-8
    /// becomes U+FFFD.
    public func decode(_ ids: [Int32], skipSpecial: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard id >= 0 && Int(id) < tokens.count else { continue }
            if skipSpecial && isSpecial(id) { continue }
            let t = tokens[Int(id)]
            if let b = ByteLevel.decode(t) { bytes += b } else { bytes += Array(t.utf8) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The raw bytes token `id` stands for (for incremental decoding and stop strings).
    public func tokenBytes(_ id: Int32) -> [UInt8] {
        guard id >= 0 && Int(id) < tokens.count else { return [] }
        let t = tokens[Int(id)]
        return ByteLevel.decode(t) ?? Array(t.utf8)
    }
}

/// A small mutex (the BPE cache is shared by threads that encode at once).
final class Lock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func lock() { pthread_mutex_lock(&mutex) }
    func unlock() { pthread_mutex_unlock(&mutex) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
