// A week of shifts: an object like { monday: 8, tuesday: 6 }.
// Each function must RETURN its result.

export function totalHours(schedule) {
  // TODO: add up the hours of every day
  return 0;
}

export function daysWorked(schedule) {
  // TODO: how many days have more than 0 hours?
  return Object.keys(schedule).length;
}

export function longestDay(schedule) {
  // TODO: the day with the most hours (the first one on a tie), or undefined for {}
  return undefined;
}

export function payByDay(schedule, hourlyRate) {
  // TODO: a NEW object: each day's hours times the rate
  return {};
}
