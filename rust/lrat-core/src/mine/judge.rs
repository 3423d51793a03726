//! The offline judge: reads only the reasoning an agent wrote after a browse and says whether the
//! page helped. NOT_RELEVANT only when the reasoning clearly rejects the page, as the paper's judge
//! prompt asks; anything else is RELEVANT.

/// Phrases with which agents reject a page. Matched on lower-cased text at word boundaries.
const REJECTIONS: &[&str] = &[
    "not relevant",
    "irrelevant",
    "unrelated",
    "not related",
    "no relevance",
    "does not help",
    "doesn't help",
    "did not help",
    "didn't help",
    "not helpful",
    "unhelpful",
    "not useful",
    "no useful",
    "nothing useful",
    "no relevant information",
    "no information about",
    "no mention of",
    "does not mention",
    "doesn't mention",
    "did not mention",
    "didn't mention",
    "does not contain",
    "doesn't contain",
    "does not provide",
    "doesn't provide",
    "does not say",
    "doesn't say",
    "nothing about",
    "not what we need",
    "not what i need",
    "not the right",
    "not the same",
    "wrong person",
    "wrong page",
    "wrong document",
    "different person",
    "different entity",
    "a different",
    "dead end",
    "not the one",
    "not about",
    "does not match",
    "doesn't match",
    "not match",
    "no match",
    "not answer",
    "no answer",
    "not found",
    "failed to load",
    "could not load",
    "page is empty",
];

/// Phrases that show the page was useful; they outweigh a rejection in the same reasoning.
const ACCEPTANCES: &[&str] = &[
    "confirms",
    "confirmed",
    "this matches",
    "it matches",
    "matches the",
    "that matches",
    "match the",
    "we found",
    "found the answer",
    "the answer is",
    "answer:",
    "this gives",
    "this shows",
    "provides the",
    "mentions that",
    "states that",
    "indeed",
    "great",
    "useful",
    "helpful",
    "relevant",
    "we have the",
    "we now have",
    "we have found",
    "so the answer",
];

/// Words that, just before a phrase, turn it around ("not irrelevant", "isn't unrelated").
const NEGATORS: &[&str] = &["nothing", "not", "isn't", "wasn't", "no", "never", "hardly", "nor", "aren't", "weren't"];

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'\''
}

/// Start offsets of `phrase` in `text` at word boundaries.
fn find_phrase(text: &str, phrase: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find(phrase) {
        let start = from + i;
        let end = start + phrase.len();
        let left_ok = start == 0 || !is_word_byte(bytes[start - 1]);
        let right_ok = end >= bytes.len() || !is_word_byte(bytes[end]);
        if left_ok && right_ok {
            out.push(start);
        }
        from = start + phrase.len().max(1);
        while from < text.len() && !text.is_char_boundary(from) {
            from += 1;
        }
        if from >= text.len() {
            break;
        }
    }
    out
}

/// The word before byte offset `at`, lower-cased text assumed.
fn previous_word(text: &str, at: usize) -> &str {
    let head = text[..at].trim_end();
    let start = head.rfind(|c: char| !(c.is_alphanumeric() || c == '\'')).map_or(0, |i| i + 1);
    &head[start..]
}

fn count_unnegated(text: &str, phrases: &[&str]) -> usize {
    let mut n = 0;
    for phrase in phrases {
        for at in find_phrase(text, phrase) {
            let negated = !phrase.starts_with("not ")
                && !phrase.starts_with("no ")
                && NEGATORS.contains(&previous_word(text, at));
            if !negated {
                n += 1;
            }
        }
    }
    n
}

/// RELEVANT (true) unless the reasoning clearly rejects the page. Empty reasoning is RELEVANT: the
/// judge has nothing to reject on.
pub fn judge_reasoning(reasoning: &str) -> bool {
    let text = reasoning.to_lowercase();
    let text = text.replace('’', "'");
    let rejections = count_unnegated(&text, REJECTIONS);
    if rejections == 0 {
        return true;
    }
    let acceptances = count_unnegated(&text, ACCEPTANCES);
    acceptances >= rejections
}

#[cfg(test)]
mod tests {
    use super::judge_reasoning;

    #[test]
    fn explicit_rejections() {
        assert!(!judge_reasoning("This page is about a footballer, not relevant to the question."));
        assert!(!judge_reasoning("The document doesn't mention the award at all. Dead end; search again."));
        assert!(!judge_reasoning("Wrong person: this Havlíček was a painter."));
    }

    #[test]
    fn acceptances_and_negated_rejections() {
        assert!(judge_reasoning("This confirms he was born in 1922 in Valašské Klobouky."));
        assert!(judge_reasoning("The page is not irrelevant: it lists his brothers."));
        assert!(judge_reasoning(""));
        assert!(judge_reasoning("Let's open the next result."));
        assert!(judge_reasoning("It does not mention the year, but it confirms the birthplace, which is useful."));
    }
}
