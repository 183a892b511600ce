import { expect } from "chai";
import { grossPay, weeklyToYearly, roundToCents, formatMoney } from "../pay.js";

describe("pay, more cases", () => {
  it("pays nothing for a week off", () => {
    expect(grossPay(0, 20)).to.equal(0);
  });

  it("rounds a long decimal down when it should", () => {
    expect(roundToCents(3.333333)).to.equal(3.33);
  });

  it("shows a sum with a tiny rounding error as normal money", () => {
    expect(formatMoney(0.1 + 0.2)).to.equal("$0.30");
  });

  it("works out a year from weekly pay with cents", () => {
    expect(weeklyToYearly(100.5)).to.equal(5226);
  });
});
