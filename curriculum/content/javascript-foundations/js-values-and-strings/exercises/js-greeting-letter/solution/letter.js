// Pieces of a letter.
// Each function must RETURN its result (not print it).

export function greeting(name) {
  return `Dear ${name},`;
}

export function signature(name, jobTitle) {
  return `${name}, ${jobTitle}`;
}

export function letterLength(text) {
  return text.length;
}
