from copmatch.ranking.snippets import FocusedSnippets, focused_snippet

TEXT = (
    "ings were loose after the last service. We checked the impeller first. "
    "The pump vibration stopped once the bearing housing was realigned. Then we logged it."
)


def test_the_snippet_starts_at_the_sentence_sharing_most_words_with_the_query():
    assert focused_snippet(TEXT, "pump vibration bearing").startswith("The pump vibration stopped")


def test_without_a_matching_sentence_a_leading_fragment_is_skipped():
    assert focused_snippet(TEXT, "chlorine dosing").startswith("We checked the impeller first.")


def test_one_sentence_is_cut_at_a_word_boundary_within_max_chars():
    made = focused_snippet("word " * 100, "word", max_chars=40)
    assert len(made) <= 40 and made.endswith("…") and "  " not in made


def test_one_query_reused_over_many_texts_gives_each_text_its_own_snippet():
    texts = [TEXT, "No sentence end here at all", "Short. Pump bearing noise. End.", ""]
    snippets = FocusedSnippets("pump bearing", max_chars=60)
    assert [snippets(t) for t in texts] == [focused_snippet(t, "pump bearing", 60) for t in texts]
    assert snippets(texts[2]) == "Pump bearing noise. End."
