// Kitchen helpers. Each function must RETURN its result.

export function scaleAmount(amount, servesNow, servesWanted) {
  // TODO: how much is needed for servesWanted people?
  return amount;
}

export function cupsToMl(cups) {
  // TODO: one cup is 240 millilitres
  return 0;
}

export function ingredientLine(amount, unit, name) {
  // TODO: like "2 cups flour"
  return name;
}

export function minutesToText(minutes) {
  // TODO: like "1 h 30 min"
  return minutes + " min";
}
