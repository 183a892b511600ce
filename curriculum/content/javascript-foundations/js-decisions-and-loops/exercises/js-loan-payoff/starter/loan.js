// How long does it take to pay off a loan? Must RETURN the number of months.

export function monthsToPayOff(balance, payment, monthlyRate) {
  // TODO: if nothing is owed, return 0
  // TODO: if the payment is not more than one month's interest, return -1
  // TODO: loop month by month: add interest, take off the payment, count the month
  return 0;
}
