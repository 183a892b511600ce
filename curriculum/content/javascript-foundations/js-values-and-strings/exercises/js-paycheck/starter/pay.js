// Working out pay. Each function must RETURN its result.

export function grossPay(hours, hourlyRate) {
  // TODO: hours times the hourly rate
  return 0;
}

export function weeklyToYearly(weeklyPay) {
  // TODO: a year has 52 weeks
  return 0;
}

export function roundToCents(amount) {
  // TODO: round to two decimal places and return a number
  return amount;
}

export function formatMoney(amount) {
  // TODO: return text like "$5.00"
  return "$" + amount;
}
