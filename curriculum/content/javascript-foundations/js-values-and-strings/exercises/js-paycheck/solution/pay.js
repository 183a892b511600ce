// Working out pay. Each function must RETURN its result.

export function grossPay(hours, hourlyRate) {
  return hours * hourlyRate;
}

export function weeklyToYearly(weeklyPay) {
  return weeklyPay * 52;
}

export function roundToCents(amount) {
  return Math.round(amount * 100) / 100;
}

export function formatMoney(amount) {
  return "$" + amount.toFixed(2);
}
