"""Small text tools for writing letters. Each function must RETURN its result."""


def greeting(name, formal):
    # TODO: "Dear NAME," when formal is True, "Hi NAME," when it is False
    return "Dear " + name + ","


def tidy_name(text):
    # TODO: remove the spaces at both ends, and capitalise each word
    return text


def word_count(text):
    # TODO: how many words are in the text?
    return 0


def preview(text, limit):
    # TODO: the text itself if it is short enough, otherwise the first limit characters and "..."
    return text
