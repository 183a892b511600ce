// Pieces of a letter.
// Each function must RETURN its result (not print it).

export function greeting(name) {
  // TODO: return "Dear " followed by the name and a comma, like "Dear Maria,"
  return "";
}

export function signature(name, jobTitle) {
  // TODO: return the name, a comma and a space, then the job title, like "Maria Lopez, Head Cook"
  return "";
}

export function letterLength(text) {
  // TODO: return the number of characters in text
}
