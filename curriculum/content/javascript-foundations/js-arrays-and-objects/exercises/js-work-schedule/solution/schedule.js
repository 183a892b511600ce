// A week of shifts: an object like { monday: 8, tuesday: 6 }.
// Each function must RETURN its result.

export function totalHours(schedule) {
  let total = 0;
  for (const day in schedule) {
    total += schedule[day];
  }
  return total;
}

export function daysWorked(schedule) {
  let count = 0;
  for (const day in schedule) {
    if (schedule[day] > 0) {
      count++;
    }
  }
  return count;
}

export function longestDay(schedule) {
  let best = undefined;
  for (const day in schedule) {
    if (best === undefined || schedule[day] > schedule[best]) {
      best = day;
    }
  }
  return best;
}

export function payByDay(schedule, hourlyRate) {
  const pay = {};
  for (const day in schedule) {
    pay[day] = schedule[day] * hourlyRate;
  }
  return pay;
}
