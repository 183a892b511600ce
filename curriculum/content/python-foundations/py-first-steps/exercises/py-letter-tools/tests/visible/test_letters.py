from letters import greeting, tidy_name, word_count, preview


def test_greets_formally():
    assert greeting("Ms. Okafor", True) == "Dear Ms. Okafor,"


def test_greets_informally():
    assert greeting("Sam", False) == "Hi Sam,"


def test_tidies_a_name_with_spaces_and_odd_capitals():
    assert tidy_name("  maria LOPEZ ") == "Maria Lopez"


def test_counts_the_words_in_a_sentence():
    assert word_count("Thank you for the job offer.") == 6


def test_shortens_a_long_text_for_a_preview():
    assert preview("Thank you for the job offer.", 9) == "Thank you..."


def test_leaves_a_short_text_alone_in_a_preview():
    assert preview("See you soon.", 20) == "See you soon."
