import { expect } from "chai";
import { grossPay, weeklyToYearly, roundToCents, formatMoney } from "../pay.js";

describe("grossPay", () => {
  it("pays 40 hours at 15 an hour", () => {
    expect(grossPay(40, 15)).to.equal(600);
  });

  it("works with part hours", () => {
    expect(grossPay(12.5, 16)).to.equal(200);
  });
});

describe("weeklyToYearly", () => {
  it("turns weekly pay into a year of pay", () => {
    expect(weeklyToYearly(500)).to.equal(26000);
  });
});

describe("roundToCents", () => {
  it("rounds to two decimal places", () => {
    expect(roundToCents(10.456)).to.equal(10.46);
  });

  it("leaves an amount with one decimal place alone", () => {
    expect(roundToCents(7.1)).to.equal(7.1);
  });
});

describe("formatMoney", () => {
  it("shows a whole amount with a dollar sign and two zeros", () => {
    expect(formatMoney(5)).to.equal("$5.00");
  });

  it("shows an amount with one decimal place with two decimals", () => {
    expect(formatMoney(1234.5)).to.equal("$1234.50");
  });
});
