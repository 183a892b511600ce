// Warehouse pay rules. Each function must RETURN its result.

export function weeklyPay(hours, rate) {
  if (hours <= 40) {
    return hours * rate;
  }
  const overtimeHours = hours - 40;
  return 40 * rate + overtimeHours * rate * 1.5;
}

export function isFullTime(hours) {
  return hours >= 35;
}

export function shiftType(startHour) {
  if (startHour < 12) {
    return "morning";
  } else if (startHour < 18) {
    return "afternoon";
  } else {
    return "night";
  }
}
