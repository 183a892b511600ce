// Warehouse pay rules. Each function must RETURN its result.

export function weeklyPay(hours, rate) {
  // TODO: the first 40 hours at rate, every hour over 40 at rate * 1.5
  return hours * rate;
}

export function isFullTime(hours) {
  // TODO: true when hours is 35 or more
  return false;
}

export function shiftType(startHour) {
  // TODO: "morning" before 12, "afternoon" from 12 up to 18, "night" from 18
  return "morning";
}
