"""Small text tools for writing letters. Each function must RETURN its result."""


def greeting(name, formal):
    if formal:
        return f"Dear {name},"
    return f"Hi {name},"


def tidy_name(text):
    return text.strip().title()


def word_count(text):
    return len(text.split())


def preview(text, limit):
    if len(text) <= limit:
        return text
    return text[:limit] + "..."
