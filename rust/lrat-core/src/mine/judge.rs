//! The offline judge: reads only the reasoning an agent wrote after a browse and says whether the
//! page helped. NOT_RELEVANT only when the reasoning clearly rejects the page, as the paper's judge
//! prompt asks; anything else is RELEVANT.
//!
//! Agents open their post-browse reasoning with a verdict on the page ("That document is
//! unrelated.", "Great! The page confirms …") and then move on, often restating the answer they
//! found elsewhere. So a rejection in the opening sentence that nothing in that sentence takes back
//! decides; otherwise rejections are weighed against signs of use over the whole text.

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
    "not matching",
    "no match",
    "no details",
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

/// Adverbs that may stand between a negation and its verb ("does not directly answer"); they are
/// dropped before matching so that the rejection phrases see "does not answer".
const HEDGES: &[&str] =
    &["directly", "really", "actually", "explicitly", "clearly", "specifically", "even", "seem to", "appear to"];

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

/// Occurrences of the phrases that no negator turns around. Overlapping matches ("does not match"
/// and "not match" at the same place) count once, as the longest of them.
fn count_unnegated(text: &str, phrases: &[&str]) -> usize {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for phrase in phrases {
        for at in find_phrase(text, phrase) {
            let negated = !phrase.starts_with("not ")
                && !phrase.starts_with("no ")
                && NEGATORS.contains(&previous_word(text, at));
            if !negated {
                spans.push((at, at + phrase.len()));
            }
        }
    }
    spans.sort_by_key(|&(start, end)| (start, std::cmp::Reverse(end)));
    let mut n = 0;
    let mut covered_to = 0;
    for (start, end) in spans {
        if n == 0 || start >= covered_to {
            n += 1;
            covered_to = end;
        } else {
            covered_to = covered_to.max(end);
        }
    }
    n
}

/// Lower-cased, with typographic apostrophes made plain and hedging adverbs after a negation dropped.
fn normalize(reasoning: &str) -> String {
    let mut text = reasoning.to_lowercase().replace('’', "'");
    for negation in ["not ", "n't "] {
        for hedge in HEDGES {
            let hedged = format!("{negation}{hedge} ");
            if text.contains(&hedged) {
                text = text.replace(&hedged, negation);
            }
        }
    }
    text
}

/// The text up to the end of its first sentence (or line).
fn opening_sentence(text: &str) -> &str {
    let text = text.trim_start();
    let mut end = text.len();
    for (i, c) in text.char_indices() {
        if c == '\n' || ((c == '.' || c == '!' || c == '?') && text[i + 1..].starts_with(char::is_whitespace)) {
            end = i + c.len_utf8();
            break;
        }
    }
    &text[..end]
}

/// RELEVANT (true) unless the reasoning clearly rejects the page. Empty reasoning is RELEVANT: the
/// judge has nothing to reject on.
pub fn judge_reasoning(reasoning: &str) -> bool {
    let text = normalize(reasoning);
    let rejections = count_unnegated(&text, REJECTIONS);
    if rejections == 0 {
        return true;
    }
    let opening = opening_sentence(&text);
    if count_unnegated(opening, REJECTIONS) > 0 && count_unnegated(opening, ACCEPTANCES) == 0 {
        return false;
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

    #[test]
    fn an_opening_rejection_is_not_undone_by_restating_the_answer() {
        assert!(!judge_reasoning("That article is unrelated. So the answer is still the one from the first page."));
        assert!(!judge_reasoning(
            "The page does not mention the treaty, but we already have it from the other source.\n\nThus answer: 1848."
        ));
        assert!(judge_reasoning(
            "Great, this is the right page. An earlier one was unrelated, but this confirms the date."
        ));
        assert!(judge_reasoning("The page does not mention his brother, but it confirms the birthplace."));
    }

    #[test]
    fn overlapping_phrases_count_once() {
        // "does not match" and "not match" are one rejection, which one sign of use balances.
        assert!(judge_reasoning("The page confirms the label, but the year does not match."));
        assert!(!judge_reasoning("The years do not match and it does not mention the label."));
    }

    #[test]
    fn hedged_negations_still_reject() {
        assert!(!judge_reasoning("This page does not directly answer the question. Let's search again."));
        assert!(!judge_reasoning("The article doesn't really help; try another query."));
        assert!(!judge_reasoning("The entry gives no details about the award. Search again."));
        assert!(!judge_reasoning("The founding year is 1975, so not matching."));
    }
}
