// Tidying names for badges and labels. Each function must RETURN its result.

export function fullName(first, last) {
  // TODO: first name, a space, last name
  return first;
}

export function initials(first, last) {
  // TODO: like "M.L." (always capital letters)
  return "";
}

export function labelName(first, last) {
  // TODO: like "LOPEZ, Maria"
  return "";
}

export function cleanUp(text) {
  // TODO: remove the spaces at the start and the end
  return text;
}
