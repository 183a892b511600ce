// Tidying names for badges and labels. Each function must RETURN its result.

export function fullName(first, last) {
  return first + " " + last;
}

export function initials(first, last) {
  return first[0].toUpperCase() + "." + last[0].toUpperCase() + ".";
}

export function labelName(first, last) {
  return last.toUpperCase() + ", " + first;
}

export function cleanUp(text) {
  return text.trim();
}
