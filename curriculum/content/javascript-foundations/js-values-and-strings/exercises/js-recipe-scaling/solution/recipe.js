// Kitchen helpers. Each function must RETURN its result.

export function scaleAmount(amount, servesNow, servesWanted) {
  const perPerson = amount / servesNow;
  return perPerson * servesWanted;
}

export function cupsToMl(cups) {
  return cups * 240;
}

export function ingredientLine(amount, unit, name) {
  return `${amount} ${unit} ${name}`;
}

export function minutesToText(minutes) {
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return `${hours} h ${rest} min`;
}
