//! The fast WordPiece count equals the full tokenizer's on every text: real agent reasoning and
//! search results, and generated text full of the hard cases (non-ASCII, controls, added tokens,
//! long words).

mod shared_data;

use std::path::PathBuf;

use lrat_core::mine::TokenCounter;
use lrat_core::{read_all, ReadOptions};
use proptest::prelude::*;

fn minilm() -> &'static TokenCounter {
    static COUNTER: std::sync::OnceLock<TokenCounter> = std::sync::OnceLock::new();
    COUNTER.get_or_init(load_minilm)
}

fn load_minilm() -> TokenCounter {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../python/lrat/data/minilm_tokenizer.json");
    let counter = TokenCounter::from_file(&path).unwrap();
    assert!(counter.has_fast_path(), "the default model's tokenizer is BERT WordPiece");
    counter
}

fn assert_same(counter: &TokenCounter, text: &str) {
    assert_eq!(counter.count(text), counter.count_without_fast_path(text).unwrap(), "text: {text:?}");
}

#[test]
fn hand_picked_texts() {
    let counter = minilm();
    for text in [
        "The page confirms it: Havlíček was born in 1948, so this is the right person.",
        "unaffable UNAFFABLE Un-affable  don't   e.g. U.S.A. 3.14159 $100,000 (approx.)",
        "[SEP] inside text, and [CLS]stuck, [MASK] [UNK] [PAD]",
        "tabs\tand\nnewlines\r\nand \x0bvertical\x0cfeed and \x1funit sep \x7f del \0 nul",
        "naïve café — “quoted” ‘single’ … 東京 Москва ﬁ ẞ \u{00a0}nbsp \u{3000}ideographic \u{200b}zero-width",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "https://en.wikipedia.org/wiki/Bed%C5%99ich_Havl%C3%AD%C4%8Dek?x=1&y=2#section",
        "xqzvvkkjjh zzzzyyyyxxxx supercalifragilisticexpialidocious antidisestablishmentarianism",
        "",
        "   ",
        "\n\t",
        "a",
        ".",
        "##",
        "##ing",
    ] {
        assert_same(counter, text);
    }
}

/// MiniLM's tokenizer with added tokens of which one starts another, so that the longest match
/// must win.
fn with_nested_added_tokens() -> &'static TokenCounter {
    static COUNTER: std::sync::OnceLock<TokenCounter> = std::sync::OnceLock::new();
    COUNTER.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../python/lrat/data/minilm_tokenizer.json");
        let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let added = json["added_tokens"].as_array_mut().unwrap();
        for (i, content) in ["<x>", "<x><y>", "y>"].into_iter().enumerate() {
            added.push(serde_json::json!({
                "id": 30522 + i, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
                "normalized": false, "special": false,
            }));
        }
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), serde_json::to_vec(&json).unwrap()).unwrap();
        let counter = TokenCounter::from_file(file.path()).unwrap();
        assert!(counter.has_fast_path());
        counter
    })
}

#[test]
fn nested_added_tokens_match_longest_first() {
    let counter = with_nested_added_tokens();
    for text in ["a<x><y>b", "<x><x><y><y>", "<x>y> <x><y>y>", "tail <x><"] {
        assert_same(counter, text);
    }
}

#[test]
fn real_reasoning_and_results() {
    let Some(dir) = shared_data::shared_data("lrat-trajectories") else { return };
    let counter = minilm();
    let (batch, _) = read_all(&[dir.display().to_string()], ReadOptions::default()).unwrap();
    let mut texts = 0;
    for t in &batch.trajectories {
        for s in &t.steps {
            assert_same(counter, &s.text);
            texts += 1;
            for hit in &s.hits {
                assert_same(counter, hit.snippet.as_deref().unwrap_or(""));
            }
        }
    }
    assert!(texts > 250, "{texts} texts");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]
    #[test]
    fn generated_text(parts in prop::collection::vec(prop_oneof![
        "[a-zA-Z]{1,12}",
        "[a-z]{95,105}",
        "[ \t\n\r]{1,3}",
        "[!-/:-@\\[-`{-~]{1,3}",
        "[0-9]{1,6}",
        Just("[SEP]".to_string()),
        "[\u{0}-\u{1f}\u{7f}]",
        "[àéîõüßÆæØœ—“”‘’…€東京Ж\u{a0}\u{3000}\u{200b}\u{301}\u{fffd}]{1,3}",
        // Added tokens next to each other, half of one, and in other cases.
        "(\\[(SEP|CLS|MASK|UNK|PAD)\\]){1,3}|\\[SE|\\[sep\\]|\\[\\[SEP\\]\\]",
        // Words on either side of the 100 characters beyond which a word is one unknown token, in
        // characters and in bytes.
        "[a-z]{40,60}[éü東][a-z]{30,50}",
        "[éΣİ]{95,105}",
        // Any characters: combining marks, other scripts, Unicode punctuation and spaces.
        "\\PC{1,8}",
        ".{1,4}",
    ], 0..40)) {
        let counter = minilm();
        let text: String = parts.concat();
        prop_assert_eq!(counter.count(&text), counter.count_without_fast_path(&text).unwrap(), "text: {:?}", text);
    }

    #[test]
    fn generated_text_with_nested_added_tokens(parts in prop::collection::vec("<x>|<y>|y>|<x><y>|[a-z ]{1,3}|[<>]", 0..20)) {
        let counter = with_nested_added_tokens();
        let text: String = parts.concat();
        prop_assert_eq!(counter.count(&text), counter.count_without_fast_path(&text).unwrap(), "text: {:?}", text);
    }
}
