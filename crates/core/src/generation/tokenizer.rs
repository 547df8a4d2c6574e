//! GPT-2's byte-level BPE, read from a Hugging Face `tokenizer.json` (docs/generation.md).
//!
//! Encoding, as the `tokenizers` library does for such a file:
//! 1. the prompt is split on the added tokens' contents (e.g. `<|endoftext|>`), which
//!    become their ids as they are;
//! 2. the rest is cut into pre-tokens by GPT-2's pattern
//!    `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, written
//!    out by hand in [`pre_tokenize`] (a regex engine would cost the module more than this);
//! 3. each pre-token's UTF-8 bytes start as one symbol per byte, and the adjacent pair with
//!    the lowest merge rank is merged, leftmost first, until no pair has a rank.
//!
//! Letters are `char::is_alphabetic` without the numeric letters (`\p{Nl}` is `\p{N}`), so
//! they differ from `\p{L}` only in combining marks that Unicode counts as alphabetic
//! (Other_Alphabetic, e.g. Devanagari vowel signs); `\s` and `\p{N}` are exactly
//! `char::is_whitespace` and `char::is_numeric`. Decoding maps each token back to its bytes.

use icinfer_api::Error;
use serde::Deserialize;
use std::collections::HashMap;

/// Largest vocabulary and merge list read (GPT-2: 50,257 and 50,000).
pub const MAX_VOCABULARY: usize = 1 << 18;

pub struct Tokenizer {
    /// Token id by byte: a pre-token's first symbols. A byte the vocabulary lacks (SmolLM2's
    /// has no tokens for some control bytes) is dropped, as `tokenizers` drops a symbol
    /// it has no id for when the model names no unknown token.
    byte_ids: [Option<u32>; 256],
    /// (left, right) -> (rank, merged id).
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// Bytes of every token id (empty for ids the vocabulary skips).
    bytes: Vec<Vec<u8>>,
    /// Added tokens: content and id, longest content first.
    added: Vec<(String, u32)>,
    ignore_merges: bool,
    /// The whole pre-token's id, when `ignore_merges` lets the vocabulary win.
    whole: HashMap<Vec<u8>, u32>,
    add_prefix_space: bool,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    added_tokens: Vec<AddedToken>,
    normalizer: Option<serde_json::Value>,
    pre_tokenizer: Option<PreTokenizer>,
    model: Model,
}

#[derive(Deserialize)]
struct AddedToken {
    id: u32,
    content: String,
}

#[derive(Deserialize)]
struct PreTokenizer {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    add_prefix_space: bool,
    #[serde(default = "yes")]
    use_regex: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct Model {
    #[serde(rename = "type")]
    kind: String,
    vocab: HashMap<String, u32>,
    merges: Vec<Merge>,
    #[serde(default)]
    ignore_merges: bool,
    #[serde(default)]
    byte_fallback: bool,
    continuing_subword_prefix: Option<String>,
    end_of_word_suffix: Option<String>,
}

/// `"a b"` (tokenizers before 0.20) or `["a", "b"]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Merge {
    Joined(String),
    Pair(String, String),
}

fn rejected(reason: impl Into<String>) -> Error {
    Error::TokenizerRejected {
        reason: reason.into(),
    }
}

impl Tokenizer {
    /// Reads a `tokenizer.json`; refuses anything but a byte-level BPE this module encodes
    /// exactly as `tokenizers` does.
    pub fn from_json(json: &[u8]) -> Result<Tokenizer, Error> {
        let file: File = serde_json::from_slice(json)
            .map_err(|e| rejected(format!("not a tokenizer.json: {e}")))?;
        if file.normalizer.as_ref().is_some_and(|n| !n.is_null()) {
            return Err(rejected("normalizers are not supported (GPT-2 has none)"));
        }
        let pre = file
            .pre_tokenizer
            .ok_or_else(|| rejected("no pre_tokenizer: a byte-level BPE has ByteLevel"))?;
        if pre.kind != "ByteLevel" || !pre.use_regex {
            return Err(rejected(format!(
                "pre_tokenizer {} (use_regex {}): only ByteLevel with GPT-2's pattern is supported",
                pre.kind, pre.use_regex
            )));
        }
        let model = file.model;
        if model.kind != "BPE" || model.byte_fallback {
            return Err(rejected(format!(
                "model {} (byte_fallback {}): only byte-level BPE is supported",
                model.kind, model.byte_fallback
            )));
        }
        if model.continuing_subword_prefix.is_some() || model.end_of_word_suffix.is_some() {
            return Err(rejected("subword prefixes and suffixes are not supported"));
        }
        if model.vocab.len() > MAX_VOCABULARY || model.merges.len() > MAX_VOCABULARY {
            return Err(rejected(format!(
                "vocabulary of {} and {} merges: at most {MAX_VOCABULARY} each",
                model.vocab.len(),
                model.merges.len()
            )));
        }
        let to_byte = byte_of_char();
        let symbol_bytes = |symbol: &str| -> Result<Vec<u8>, Error> {
            symbol
                .chars()
                .map(|c| to_byte.get(&c).copied())
                .collect::<Option<Vec<u8>>>()
                .ok_or_else(|| rejected(format!("token {symbol:?} is not byte-level")))
        };
        let largest = model
            .vocab
            .values()
            .chain(file.added_tokens.iter().map(|t| &t.id))
            .copied()
            .max()
            .unwrap_or(0) as usize;
        if largest >= 2 * MAX_VOCABULARY {
            return Err(rejected(format!("token id {largest} is too large")));
        }
        let mut bytes = vec![Vec::new(); largest + 1];
        let mut by_bytes: HashMap<Vec<u8>, u32> = HashMap::with_capacity(model.vocab.len());
        let added_ids: Vec<u32> = file.added_tokens.iter().map(|t| t.id).collect();
        for (symbol, &id) in &model.vocab {
            if added_ids.contains(&id) {
                continue;
            }
            let b = symbol_bytes(symbol)?;
            by_bytes.insert(b.clone(), id);
            bytes[id as usize] = b;
        }
        let byte_ids: [Option<u32>; 256] =
            std::array::from_fn(|byte| by_bytes.get(&vec![byte as u8]).copied());
        if byte_ids.iter().all(Option::is_none) {
            return Err(rejected("no byte has a token: not a byte-level BPE"));
        }
        let mut merges = HashMap::with_capacity(model.merges.len());
        for (rank, merge) in model.merges.iter().enumerate() {
            let (left, right) = match merge {
                Merge::Pair(l, r) => (l.as_str(), r.as_str()),
                Merge::Joined(joined) => joined
                    .split_once(' ')
                    .ok_or_else(|| rejected(format!("merge {joined:?} is not a pair")))?,
            };
            let id_of = |b: &[u8]| {
                by_bytes.get(b).copied().ok_or_else(|| {
                    rejected(format!("merge {left:?} {right:?} is not in the vocabulary"))
                })
            };
            let (l, r) = (symbol_bytes(left)?, symbol_bytes(right)?);
            let merged = id_of(&[l.as_slice(), r.as_slice()].concat())?;
            merges
                .entry((id_of(&l)?, id_of(&r)?))
                .or_insert((rank as u32, merged));
        }
        let mut added: Vec<(String, u32)> = file
            .added_tokens
            .into_iter()
            .filter(|t| !t.content.is_empty())
            .map(|t| (t.content, t.id))
            .collect();
        for (content, id) in &added {
            bytes[*id as usize] = content.as_bytes().to_vec();
        }
        added.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        Ok(Tokenizer {
            byte_ids,
            merges,
            bytes,
            added,
            ignore_merges: model.ignore_merges,
            whole: if model.ignore_merges {
                by_bytes
            } else {
                HashMap::new()
            },
            add_prefix_space: pre.add_prefix_space,
        })
    }

    /// Token ids a model's logits may name: one more than the largest id.
    pub fn id_bound(&self) -> usize {
        self.bytes.len()
    }

    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        let mut rest = text;
        let mut first = true;
        while !rest.is_empty() {
            let (plain, special) = self.next_added(rest);
            if !plain.is_empty() {
                let owned;
                let plain = if first && self.add_prefix_space && !plain.starts_with(' ') {
                    owned = format!(" {plain}");
                    owned.as_str()
                } else {
                    plain
                };
                for piece in pre_tokenize(plain) {
                    self.encode_piece(piece.as_bytes(), &mut ids);
                }
            }
            first = false;
            match special {
                Some((len, id)) => {
                    ids.push(id);
                    rest = &rest[plain.len() + len..];
                }
                None => rest = "",
            }
        }
        ids
    }

    /// The text before the first added token in `text`, and that token (its length, id).
    fn next_added<'t>(&self, text: &'t str) -> (&'t str, Option<(usize, u32)>) {
        let mut best: Option<(usize, usize, u32)> = None;
        for (content, id) in &self.added {
            if let Some(at) = text.find(content.as_str())
                && best.is_none_or(|(b, _, _)| at < b)
            {
                best = Some((at, content.len(), *id));
            }
        }
        match best {
            Some((at, len, id)) => (&text[..at], Some((len, id))),
            None => (text, None),
        }
    }

    fn encode_piece(&self, piece: &[u8], out: &mut Vec<u32>) {
        if self.ignore_merges
            && let Some(&id) = self.whole.get(piece)
        {
            out.push(id);
            return;
        }
        let mut symbols: Vec<u32> = piece
            .iter()
            .filter_map(|&b| self.byte_ids[b as usize])
            .collect();
        loop {
            let best = symbols
                .windows(2)
                .enumerate()
                .filter_map(|(at, pair)| {
                    let &(rank, merged) = self.merges.get(&(pair[0], pair[1]))?;
                    Some((rank, at, merged))
                })
                .min();
            let Some((_, at, merged)) = best else { break };
            symbols[at] = merged;
            symbols.remove(at + 1);
        }
        out.extend(symbols);
    }

    /// The bytes of a token (empty for an id the vocabulary does not have).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.bytes.get(id as usize).map_or(&[], Vec::as_slice)
    }

    pub fn decode(&self, ids: &[u32]) -> Vec<u8> {
        ids.iter()
            .flat_map(|&id| self.token_bytes(id))
            .copied()
            .collect()
    }
}

/// GPT-2's `bytes_to_unicode`, reversed: the printable Latin-1 bytes stand for themselves,
/// the others for U+0100 onwards in byte order.
fn byte_of_char() -> HashMap<char, u8> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xa1..=0xac | 0xae..=0xff);
    let mut map = HashMap::with_capacity(256);
    let mut shifted = 0u32;
    for b in 0..=255u8 {
        let c = if printable(b) {
            char::from(b)
        } else {
            shifted += 1;
            char::from_u32(255 + shifted).expect("U+0100..U+0143")
        };
        map.insert(c, b);
    }
    map
}

fn is_letter(c: char) -> bool {
    c.is_alphabetic() && !c.is_numeric()
}

fn is_other(c: char) -> bool {
    !c.is_whitespace() && !is_letter(c) && !c.is_numeric()
}

/// GPT-2's pre-tokenizer pattern, alternative by alternative, at each position.
pub fn pre_tokenize(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end = |i: usize| chars.get(i).map_or(text.len(), |&(at, _)| at);
    let mut pieces = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let run = |from: usize, class: fn(char) -> bool| {
            let mut j = from;
            while j < chars.len() && class(chars[j].1) {
                j += 1;
            }
            j
        };
        let next = (|| {
            // 's 't 're 've 'm 'll 'd
            if chars[i].1 == '\'' {
                let rest = &text[chars[i].0 + 1..];
                for suffix in ["s", "t", "re", "ve", "m", "ll", "d"] {
                    if rest.starts_with(suffix) {
                        return i + 1 + suffix.len();
                    }
                }
            }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
            let start = if chars[i].1 == ' ' { i + 1 } else { i };
            for class in [is_letter as fn(char) -> bool, char::is_numeric, is_other] {
                let j = run(start, class);
                if j > start {
                    return j;
                }
            }
            // `\s+(?!\S)`, then `\s+`
            let j = run(i, char::is_whitespace);
            if j == chars.len() || j - i == 1 {
                j
            } else {
                j - 1
            }
        })();
        pieces.push(&text[chars[i].0..end(next)]);
        i = next;
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_tokens_follow_gpt2_pattern() {
        let cases: &[(&str, &[&str])] = &[
            ("Hello world", &["Hello", " world"]),
            ("it's  a test", &["it", "'s", " ", " a", " test"]),
            (
                "x = 42;\n\nnext",
                &["x", " =", " 42", ";", "\n", "\n", "next"],
            ),
            ("a \n\n  b", &["a", " \n\n ", " b"]),
            ("  lead", &[" ", " lead"]),
            ("end   ", &["end", "   "]),
            ("'hello' I'll", &["'", "hello", "'", " I", "'ll"]),
            ("café 3½ ünï", &["café", " 3½", " ünï"]),
            ("a\n b", &["a", "\n", " b"]),
            ("tab\tx", &["tab", "\t", "x"]),
            ("!!? ok", &["!!?", " ok"]),
        ];
        for (text, expected) in cases {
            assert_eq!(&pre_tokenize(text), expected, "{text:?}");
        }
    }

    #[test]
    fn the_byte_map_is_gpt2s() {
        let map = byte_of_char();
        assert_eq!(map.len(), 256);
        assert_eq!(map[&'Ġ'], b' ');
        assert_eq!(map[&'Ċ'], b'\n');
        assert_eq!(map[&'!'], b'!');
        assert_eq!(map[&'Ā'], 0);
    }

    /// A byte-level BPE over bytes 0..256 in GPT-2's byte order, with merges.
    fn tiny(merges: &[(&str, &str)], added: &[(&str, u32)]) -> Vec<u8> {
        let to_char: HashMap<u8, char> = byte_of_char().into_iter().map(|(c, b)| (b, c)).collect();
        let mut vocab = serde_json::Map::new();
        for b in 0..=255u8 {
            vocab.insert(to_char[&b].to_string(), (b as u32).into());
        }
        for (n, (l, r)) in merges.iter().enumerate() {
            vocab.insert(format!("{l}{r}"), (256 + n as u32).into());
        }
        let added: Vec<_> = added
            .iter()
            .map(|(content, id)| serde_json::json!({"id": id, "content": content, "special": true}))
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
            "model": {"type": "BPE", "vocab": vocab, "merges": merges.iter().map(|(l, r)| format!("{l} {r}")).collect::<Vec<_>>()},
        }))
        .unwrap()
    }

    #[test]
    fn merges_apply_by_rank_and_decode_inverts() {
        let json = tiny(
            &[("h", "e"), ("l", "l"), ("he", "ll"), ("Ġ", "w")],
            &[("<|end|>", 300)],
        );
        let tokenizer = Tokenizer::from_json(&json).unwrap();
        let ids = tokenizer.encode("hello world<|end|>hell");
        // "hello" -> he, ll, o -> hell, o; " world" -> Ġw, o, r, l, d
        assert_eq!(
            ids,
            vec![258, b'o' as u32, 259, 111, 114, 108, 100, 300, 258]
        );
        assert_eq!(tokenizer.decode(&ids), b"hello world<|end|>hell");
        let text = "naïve ☃ text\n\n  with spaces ";
        assert_eq!(tokenizer.decode(&tokenizer.encode(text)), text.as_bytes());
    }

    #[test]
    fn other_tokenizers_are_refused_by_name() {
        let mut value: serde_json::Value = serde_json::from_slice(&tiny(&[], &[])).unwrap();
        value["model"]["type"] = "WordPiece".into();
        let refused = Tokenizer::from_json(&serde_json::to_vec(&value).unwrap());
        assert!(
            matches!(refused, Err(Error::TokenizerRejected { reason }) if reason.contains("WordPiece"))
        );
        assert!(matches!(
            Tokenizer::from_json(b"{not json"),
            Err(Error::TokenizerRejected { .. })
        ));
        // A byte without a token is dropped, as `tokenizers` drops it.
        let mut missing_byte: serde_json::Value = serde_json::from_slice(&tiny(&[], &[])).unwrap();
        missing_byte["model"]["vocab"]
            .as_object_mut()
            .unwrap()
            .remove("Ā");
        let tokenizer = Tokenizer::from_json(&serde_json::to_vec(&missing_byte).unwrap()).unwrap();
        assert_eq!(
            tokenizer.encode("a\0b"),
            vec![u32::from(b'a'), u32::from(b'b')]
        );
    }
}
