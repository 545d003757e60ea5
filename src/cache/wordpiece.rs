//! A small BERT WordPiece tokenizer (uncased), enough to turn a prompt into all-MiniLM-L6-v2's
//! token ids without the `tokenizers` crate, so that the static embedder builds in the default
//! feature set.
//!
//! It follows the model's tokenizer.json (BertNormalizer, BertPreTokenizer, WordPiece):
//! 1. clean: drop NUL, U+FFFD and control/format/private-use characters; whitespace becomes ' ';
//! 2. put spaces around CJK ideographs, so each is a word;
//! 3. strip accents: canonical decomposition, then drop nonspacing marks;
//! 4. lower-case;
//! 5. split on whitespace, and make every punctuation character (ASCII punctuation or Unicode
//!    P*) a word of its own;
//! 6. per word: greedy longest match against the vocabulary, continuation pieces prefixed with
//!    `##`; a word with no full cover, or longer than 100 characters, is one `[UNK]`.
//!
//! The Unicode tables come from `scripts/gen-wordpiece-tables.py`. The output equals the
//! `tokenizers` crate's on ordinary text (a test under `embed-minilm` checks a corpus); they can
//! differ on code points assigned after the Unicode version of either side's tables.

use std::collections::HashMap;

use super::wordpiece_tables::{DECOMP, MARK, OTHER, PUNCT};

/// The longest word, in characters, that WordPiece tries to split; longer ones become `[UNK]`.
const MAX_CHARS_PER_WORD: usize = 100;

/// A WordPiece vocabulary with BERT's uncased basic tokenization.
pub struct WordPiece {
    /// Token → id. Continuation pieces are stored with their `##` prefix, as in the vocabulary.
    vocab: HashMap<String, u32>,
    /// Id → token, for inspection and for writing the vocabulary out.
    tokens: Vec<String>,
    unk: u32,
    cls: u32,
    sep: u32,
    /// The longest vocabulary entry in characters (without `##`): bounds the greedy search.
    longest: usize,
}

impl WordPiece {
    /// Builds the tokenizer from the text of a Hugging Face `tokenizer.json` whose model is
    /// WordPiece (as all-MiniLM-L6-v2's is). Only the vocabulary is read: the normalization is
    /// fixed to BERT uncased, which the file's normalizer must be.
    pub fn from_tokenizer_json(text: &str) -> Result<Self, String> {
        let json: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("tokenizer.json: {e}"))?;
        let model = &json["model"];
        if model["type"] != "WordPiece" {
            return Err("tokenizer.json: model is not WordPiece".into());
        }
        let norm = &json["normalizer"];
        if norm["type"] != "BertNormalizer" || norm["lowercase"] != true {
            return Err("tokenizer.json: normalizer is not an uncased BertNormalizer".into());
        }
        let vocab = model["vocab"]
            .as_object()
            .ok_or("tokenizer.json: model.vocab is not an object")?;
        let mut tokens = vec![String::new(); vocab.len()];
        for (token, id) in vocab {
            let id = id
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .filter(|&i| i < tokens.len())
                .ok_or_else(|| format!("tokenizer.json: bad id for {token:?}"))?;
            tokens[id] = token.clone();
        }
        Self::from_tokens(tokens)
    }

    /// Builds the tokenizer from the vocabulary in id order (id = position).
    pub fn from_tokens(tokens: Vec<String>) -> Result<Self, String> {
        let mut vocab = HashMap::with_capacity(tokens.len());
        let mut longest = 0;
        for (id, token) in tokens.iter().enumerate() {
            let id = u32::try_from(id).map_err(|_| "vocabulary too large")?;
            if token.is_empty() {
                return Err(format!("vocabulary: id {id} has no token"));
            }
            let bare = token.strip_prefix("##").unwrap_or(token);
            longest = longest.max(bare.chars().count());
            vocab.insert(token.clone(), id);
        }
        let special = |t: &str| {
            vocab
                .get(t)
                .copied()
                .ok_or_else(|| format!("vocabulary: no {t}"))
        };
        Ok(Self {
            unk: special("[UNK]")?,
            cls: special("[CLS]")?,
            sep: special("[SEP]")?,
            vocab,
            tokens,
            longest,
        })
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The vocabulary in id order.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// Id of `[UNK]`.
    pub fn unk_id(&self) -> u32 {
        self.unk
    }

    /// `[CLS]`, the word pieces of `text` (cut so that the total is at most `max_len`), `[SEP]`:
    /// what the model sees. `max_len` below 2 is treated as 2.
    pub fn encode(&self, text: &str, max_len: usize) -> Vec<u32> {
        let mut ids = vec![self.cls];
        self.pieces(text, &mut ids);
        ids.truncate(max_len.max(2) - 1);
        ids.push(self.sep);
        ids
    }

    /// Appends the word pieces of `text` to `out` (no special tokens, no length limit).
    pub fn pieces(&self, text: &str, out: &mut Vec<u32>) {
        let mut word = String::new();
        let mut scratch = String::new();
        let mut flush = |word: &mut String, out: &mut Vec<u32>| {
            if !word.is_empty() {
                self.word_pieces(word, &mut scratch, out);
                word.clear();
            }
        };
        for c in text.chars() {
            // 1. clean.
            let c = if is_whitespace(c) {
                ' '
            } else if c == '\0' || c == '\u{FFFD}' || in_ranges(OTHER, c) {
                continue;
            } else {
                c
            };
            // 2. CJK ideographs are words of their own.
            if is_cjk(c) {
                flush(&mut word, out);
                word.push(c);
                flush(&mut word, out);
                continue;
            }
            // 3 and 4: strip accents, then lower-case each resulting character.
            for_each_stripped(c, |s| {
                for l in s.to_lowercase() {
                    // 5. split.
                    if l.is_whitespace() {
                        flush(&mut word, out);
                    } else if is_punct(l) {
                        flush(&mut word, out);
                        word.push(l);
                        flush(&mut word, out);
                    } else {
                        word.push(l);
                    }
                }
            });
        }
        flush(&mut word, out);
    }

    /// 6. Greedy longest-match WordPiece on one normalized word.
    fn word_pieces(&self, word: &str, scratch: &mut String, out: &mut Vec<u32>) {
        // Char boundaries, so that pieces never split a character.
        let bounds: Vec<usize> = word
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(word.len()))
            .collect();
        let chars = bounds.len() - 1;
        if chars > MAX_CHARS_PER_WORD {
            out.push(self.unk);
            return;
        }
        let first_piece = out.len();
        let mut start = 0;
        while start < chars {
            let mut end = chars.min(start + self.longest);
            let mut found = None;
            while end > start {
                let piece = &word[bounds[start]..bounds[end]];
                let id = if start == 0 {
                    self.vocab.get(piece)
                } else {
                    scratch.clear();
                    scratch.push_str("##");
                    scratch.push_str(piece);
                    self.vocab.get(scratch.as_str())
                };
                if let Some(&id) = id {
                    found = Some(id);
                    break;
                }
                end -= 1;
            }
            match found {
                Some(id) => {
                    out.push(id);
                    start = end;
                }
                None => {
                    // No cover: the whole word is unknown, including pieces already matched.
                    out.truncate(first_piece);
                    out.push(self.unk);
                    return;
                }
            }
        }
    }
}

/// BERT's whitespace: tab, newline, carriage return and Unicode White_Space.
fn is_whitespace(c: char) -> bool {
    c.is_whitespace()
}

fn is_punct(c: char) -> bool {
    // ASCII symbols such as `$`, `+`, `^` are not Unicode punctuation but BERT splits them too.
    c.is_ascii_punctuation() || (!c.is_ascii() && in_ranges(PUNCT, c))
}

/// The CJK Unified Ideograph blocks that BERT isolates (not Hangul, kana or CJK punctuation).
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B820..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

fn in_ranges(table: &[(u32, u32)], c: char) -> bool {
    let cp = c as u32;
    // ASCII is never in OTHER's ranges beyond controls, which is_whitespace/the caller handle;
    // the binary search is cheap either way.
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Calls `f` with each character of `c`'s canonical decomposition minus nonspacing marks.
fn for_each_stripped(c: char, mut f: impl FnMut(char)) {
    let cp = c as u32;
    if cp < 0xC0 {
        // Nothing below U+00C0 decomposes or is a mark: the common case stays a single test.
        f(c);
        return;
    }
    // Hangul syllables decompose algorithmically into conjoining jamo (none of them marks).
    const S_BASE: u32 = 0xAC00;
    const S_COUNT: u32 = 11172;
    const T_COUNT: u32 = 28;
    const N_COUNT: u32 = 588;
    if (S_BASE..S_BASE + S_COUNT).contains(&cp) {
        let s = cp - S_BASE;
        let jamo = [
            0x1100 + s / N_COUNT,
            0x1161 + (s % N_COUNT) / T_COUNT,
            0x11A7 + s % T_COUNT,
        ];
        for (i, j) in jamo.into_iter().enumerate() {
            // The trailing consonant is absent when its index is 0.
            if i == 2 && j == 0x11A7 {
                continue;
            }
            if let Some(j) = char::from_u32(j) {
                f(j);
            }
        }
        return;
    }
    if in_ranges(MARK, c) {
        return;
    }
    match DECOMP.binary_search_by_key(&cp, |&(k, _)| k) {
        Ok(i) => DECOMP[i].1.chars().for_each(f),
        Err(_) => f(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> WordPiece {
        let v = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "a", "b", "##b", "cafe",
            "!", ",", "$", "中", "hello", "world",
        ];
        WordPiece::from_tokens(v.iter().map(|s| s.to_string()).collect()).expect("toy vocab")
    }

    fn words<'a>(wp: &'a WordPiece, text: &str) -> Vec<&'a str> {
        let mut ids = Vec::new();
        wp.pieces(text, &mut ids);
        ids.iter()
            .map(|&i| wp.tokens()[i as usize].as_str())
            .collect()
    }

    #[test]
    fn greedy_longest_match_and_unknown_words() {
        let wp = toy();
        assert_eq!(words(&wp, "unaffable"), ["un", "##aff", "##able"]);
        assert_eq!(words(&wp, "abb"), ["a", "##b", "##b"]);
        // "unx" has no cover: the whole word is one [UNK], not "un" + [UNK].
        assert_eq!(words(&wp, "unx hello"), ["[UNK]", "hello"]);
        let long = "a".repeat(MAX_CHARS_PER_WORD + 1);
        assert_eq!(words(&wp, &long), ["[UNK]"]);
    }

    #[test]
    fn normalization_and_splitting() {
        let wp = toy();
        // Case, accents (precomposed and combining), punctuation and ASCII symbols.
        assert_eq!(
            words(&wp, "CAFÉ, cafe\u{301}!$"),
            ["cafe", ",", "cafe", "!", "$"]
        );
        // Control characters vanish; other whitespace separates words; CJK stands alone.
        assert_eq!(
            words(&wp, "hello\u{200B}\u{7}\tworld\u{3000}hello中world"),
            ["hello", "world", "hello", "中", "world"]
        );
    }

    #[test]
    fn special_tokens_and_truncation() {
        let wp = toy();
        assert_eq!(wp.encode("hello world", 256), vec![2, 15, 16, 3]);
        assert_eq!(wp.encode("hello world", 3), vec![2, 15, 3]);
        assert_eq!(wp.encode("", 0), vec![2, 3]);
    }

    #[test]
    fn rejects_bad_vocabularies() {
        assert!(WordPiece::from_tokens(vec!["a".into()]).is_err());
        assert!(WordPiece::from_tokenizer_json("{}").is_err());
        assert!(WordPiece::from_tokenizer_json("not json").is_err());
    }
}

/// Agreement with the `tokenizers` crate on the real vocabulary (needs the model files).
#[cfg(all(test, feature = "embed-minilm"))]
mod parity {
    use super::*;

    fn both() -> (WordPiece, tokenizers::Tokenizer) {
        let dir = std::env::var_os("SHARDGATE_MINILM_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| "models/all-MiniLM-L6-v2".into());
        let path = dir.join("tokenizer.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}: run scripts/fetch-model.sh", path.display()));
        let ours = WordPiece::from_tokenizer_json(&text).expect("our tokenizer");
        let mut theirs = tokenizers::Tokenizer::from_bytes(text.as_bytes()).expect("tokenizers");
        theirs.with_padding(None);
        theirs.with_truncation(None).expect("no truncation");
        (ours, theirs)
    }

    fn check(ours: &WordPiece, theirs: &tokenizers::Tokenizer, text: &str) -> bool {
        let want = theirs.encode(text, true).expect("encode");
        let got = ours.encode(text, usize::MAX);
        got == want.get_ids()
    }

    #[test]
    fn same_ids_as_tokenizers_on_prompts() {
        let (ours, theirs) = both();
        let texts = [
            "What is the capital of Australia?",
            "Convert 5 miles to km, please!!",
            "Refund within 30 days vs. after 30 days — what's the policy?",
            "Naïve café résumé: Ångström, Øresund, Straße, İstanbul, ǅemal",
            "fn main() { println!(\"{}\", x.unwrap_or(0)); } // rust",
            "SELECT * FROM users WHERE id=42 AND name LIKE '%bob%';",
            "https://example.com/a/b?c=d&e=f#frag user@mail.org",
            "Write a haiku about 東京 and 北京 in 한국어 or русский язык, ελληνικά",
            "Emoji 😀👍🏽 and symbols ©®™ ± × ÷ ≤ ≥ € £ ¥ ° µ",
            "tabs\tand\nnewlines\r\nand\u{00A0}nbsp and\u{200B}zero width and soft\u{00AD}hyphen",
            "Python 3.12.1 vs 3.11; GPT-4o-mini; v2.0.0-rc.1; C++17; C#; .NET 8",
            "“Smart quotes” and ‘single’ … ellipsis – en dash — em dash",
            "supercalifragilisticexpialidocious antidisestablishmentarianism",
            "",
            "   ",
            "日本語のテキストとカタカナ、ひらがな。",
            "Arabic: مرحبا بالعالم Hebrew: שלום עולם Hindi: नमस्ते दुनिया",
        ];
        let bad: Vec<&str> = texts
            .iter()
            .copied()
            .filter(|t| !check(&ours, &theirs, t))
            .collect();
        assert!(bad.is_empty(), "differ on {bad:?}");
    }

    #[test]
    fn same_ids_as_tokenizers_on_random_text() {
        let (ours, theirs) = both();
        // Characters from the scripts prompts use, plus the awkward ones (combining marks,
        // zero-width, controls, CJK, Hangul); random strings of them, fixed seed.
        let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \
             .,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`\t\n\
             éèêëàâäçñöüßøåæœÉÀÇÑÖÜ\u{301}\u{308}\u{327}αβγΔΩабвгдЖЯ中文字東京한국어\
             ひらがなカタカナ\u{200B}\u{200D}\u{FEFF}\u{7}\u{A0}\u{3000}—–…“”‘’«»¿¡€£©"
            .chars()
            .collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut bad = Vec::new();
        for _ in 0..3000 {
            let len = (next() % 40) as usize;
            let text: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if !check(&ours, &theirs, &text) {
                bad.push(text);
            }
        }
        assert!(
            bad.is_empty(),
            "{} differ, e.g. {:?}",
            bad.len(),
            &bad[..bad.len().min(3)]
        );
    }
}
