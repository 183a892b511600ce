from letters import greeting, tidy_name, word_count, preview


def test_counts_no_words_in_an_empty_letter():
    assert word_count("") == 0


def test_counts_words_across_lines_and_extra_spaces():
    assert word_count("Dear Sam,\n\nSee  you   soon.\n") == 5


def test_previews_a_text_of_exactly_the_limit():
    assert preview("Hello", 5) == "Hello"


def test_tidies_a_name_that_is_already_tidy():
    assert tidy_name("Aisha Bello") == "Aisha Bello"


def test_greets_a_tidied_name_informally():
    assert greeting(tidy_name(" jo "), False) == "Hi Jo,"
