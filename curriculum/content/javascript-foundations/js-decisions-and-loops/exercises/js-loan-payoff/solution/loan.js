// How long does it take to pay off a loan? Must RETURN the number of months.

export function monthsToPayOff(balance, payment, monthlyRate) {
  if (balance <= 0) {
    return 0;
  }
  if (payment <= balance * monthlyRate) {
    return -1;
  }
  let months = 0;
  while (balance > 0) {
    balance = balance + balance * monthlyRate;
    balance = balance - payment;
    months++;
  }
  return months;
}
